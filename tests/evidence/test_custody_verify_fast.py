"""The verifier's fast path: leaf bytes built inline from raw rows must be exactly ``custody_tree.leaf_data``'s,
and anything it does not build (format 1, another time text) must be decided by the library's own functions.

``_slow`` is counted, not replaced: it is where an event the fast path did not confirm is decided.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, text, update

from cli import custody_workers
from evidence import custody, custody_checkpoints, custody_tree, custody_verify
from evidence.custody import EventKind, Outcome
from evidence.models import CustodyEvent
from evidence.unit_of_work import transaction
from tests.evidence.test_custody import checkpoint, fill, recompute_everything, signed_log, verify

TRICKY = [
    "ctrl \x00 \x01 \x1f \x7f \t\n\r\b\f",
    'quote " and \\ back\\slash \\u0041 /',
    "line sep \u2028 para sep \u2029",
    "emoji \U0001f600 名 执法 é",
    "",
]


@pytest.fixture
def sessions(any_sessions):
    return any_sessions


@pytest.fixture
def store(tmp_path):
    from evidence.adapters.filestore import FileStore

    s = FileStore(tmp_path / "objects")
    s.ensure_ready()
    return s


@pytest.fixture
def slow_calls(monkeypatch):
    calls: list[int] = []
    real = custody_verify._slow

    def counted(row):
        calls.append(row[0])
        return real(row)

    monkeypatch.setattr(custody_verify, "_slow", counted)
    return calls


def tricky_log(sessions):
    with transaction(sessions) as session:
        for i, value in enumerate(TRICKY):
            if "\x00" in value and session.bind.dialect.name == "postgresql":
                value = value.replace("\x00", "")  # PostgreSQL text holds no NUL
            custody.append(
                session,
                EventKind.RECEIVED,
                agent=value or "a",
                tool=value if i % 2 else None,
                outcome=Outcome.FAILURE if i % 2 else Outcome.SUCCESS,
                details={value: value, "n": i, "nested": [value, 1.5, None]},
            )
        # a time on the second: the stored text still carries ".000000"
        custody.append(session, EventKind.HASHED, agent="x", occurred_at=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))


def test_tricky_strings_take_the_fast_path_and_verify(sessions, store, slow_calls):
    tricky_log(sessions)
    checkpoint(sessions, store)
    report = verify(sessions, store)
    assert report.ok, report.reason
    assert report.checked == len(TRICKY) + 1 and report.signed_size == len(TRICKY) + 1
    assert slow_calls == []  # the inline bytes were leaf_data's for every one of them


@pytest.mark.parametrize("seq", [1, 2, 3, 4])
def test_an_edited_tricky_string_is_named(sessions, store, seq):
    tricky_log(sessions)
    checkpoint(sessions, store)
    with transaction(sessions) as session:
        agent = session.get(CustodyEvent, seq).agent
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == seq).values(agent=agent + "\u2028"))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == seq and "content altered" in report.reason


def test_the_leaves_are_the_librarys(sessions):
    tricky_log(sessions)
    fill(sessions, 3)
    with transaction(sessions) as session:
        events = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).all()
        leaves: list[bytes] = []
        expected, prev = 1, custody.GENESIS
        for batch in custody_verify._batches(session.connection(), 0):
            expected, prev = custody_verify._scan(batch, expected, prev, leaves)
        assert leaves == [custody_tree.leaf_of(ev) for ev in events]
        assert prev == events[-1].hash and expected == len(events) + 1


def test_another_text_of_the_same_time_is_decided_by_the_library(sessions, store, slow_calls):
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("only SQLite keeps times as text")
    fill(sessions, 4)
    checkpoint(sessions, store)
    with transaction(sessions) as session:
        stored = session.execute(text("SELECT occurred_at FROM custody_events WHERE seq = 2")).scalar_one()
        same = stored.replace(" ", "T")  # the same instant, ISO's other spelling
        session.execute(text("UPDATE custody_events SET occurred_at = :t WHERE seq = 2"), {"t": same})
    report = verify(sessions, store)
    assert report.ok, report.reason
    assert slow_calls == [2]
    with transaction(sessions) as session:  # one microsecond later: an edit
        later = stored[:-1] + str((int(stored[-1]) + 1) % 10)
        session.execute(text("UPDATE custody_events SET occurred_at = :t WHERE seq = 3"), {"t": later})
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 3


@pytest.mark.parametrize("bad", ['2026-01-01 00:00:00"12345', "2026-01-01 00:00:00\\12345", "2026-01-01 00:00"])
def test_a_time_text_that_is_no_time_is_named(sessions, store, bad):
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("only SQLite keeps times as text")
    fill(sessions, 4)
    checkpoint(sessions, store)
    with transaction(sessions) as session:
        session.execute(text("UPDATE custody_events SET recorded_at = :t WHERE seq = 2"), {"t": bad})
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 2


def test_a_field_of_the_wrong_type_is_named_not_a_crash(sessions, store):
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("only SQLite stores a text in an integer column")
    fill(sessions, 4)
    checkpoint(sessions, store)
    with transaction(sessions) as session:
        session.execute(text("PRAGMA foreign_keys=OFF"))
        session.execute(text("UPDATE custody_events SET case_id = :v WHERE seq = 3"), {"v": '1,"x":2'})
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 3


def test_format_1_events_are_decided_by_the_library(sessions, store, slow_calls):
    with transaction(sessions) as session:
        prev = custody.GENESIS
        for seq in range(1, 6):
            fields = dict(
                seq=seq, prev_hash=prev, item_id=None, kind="received", outcome="success", agent=TRICKY[seq % 4],
                tool=None, occurred_at=datetime(2026, 1, 1, 0, 0, seq, tzinfo=UTC), details='{"old":"\\u2028"}',
            )  # fmt: skip
            if session.bind.dialect.name == "postgresql":
                fields["agent"] = fields["agent"].replace("\x00", "")
            h = custody_tree.event_hash(**fields)
            session.add(CustodyEvent(**fields, hash=h, format=1, recorded_at=fields["occurred_at"]))
            session.flush()
            prev = h
    with transaction(sessions) as session:
        custody.upgrade_log(session, "upgrader")
    fill(sessions, 3, start=6)
    checkpoint(sessions, store)
    report = verify(sessions, store)
    assert report.ok, report.reason
    assert slow_calls == [1, 2, 3, 4, 5]  # format 1 only; the upgrade event and the rest took the fast path
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 4).values(agent="someone else"))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 4


# --- two processes: the same verdict as one ------------------------------------------------------------------


def _edit(seq):
    def tamper(session):
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == seq).values(details='{"n":99}'))

    return tamper


def _delete(seq):
    def tamper(session):
        session.execute(delete(CustodyEvent).where(CustodyEvent.seq == seq))

    return tamper


def _swap(a, b):
    def tamper(session):
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == a).values(seq=-a))
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == b).values(seq=a))
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == -a).values(seq=b))

    return tamper


def _rewrite(seq):
    def tamper(session):
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == seq).values(agent="someone else"))
        recompute_everything(session)

    return tamper


def _cut(after):
    def tamper(session):
        session.execute(delete(CustodyEvent).where(CustodyEvent.seq > after))

    return tamper


# a log of 20 signed at 5, 12 and 20 splits at 11: the second process holds the checkpoint at 12
TAMPERING = {
    "intact": lambda session: None,
    "edit in the first half": _edit(7),
    "edit in the second half": _edit(14),
    "last of the first half deleted": _delete(11),
    "first of the second half deleted": _delete(12),
    "swapped across the split": _swap(11, 12),
    "tail cut": _cut(16),
    "rewritten in the first half": _rewrite(3),
    "rewritten in the second half": _rewrite(14),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_two_processes_give_the_verdict_of_one(sessions, store, monkeypatch, tampering):
    monkeypatch.setattr(custody_verify, "_PARALLEL_MIN", 1)
    signed_log(sessions, store)
    with transaction(sessions) as session:
        TAMPERING[tampering](session)
    one = verify(sessions, store)
    two = verify(sessions, store, helper=custody_workers.helper_for(sessions.kw["bind"]))
    assert (two.ok, two.bad_seq, two.reason, two.checked, two.size, two.head_hash, two.checkpoints) == (
        one.ok, one.bad_seq, one.reason, one.checked, one.size, one.head_hash, one.checkpoints,
    )  # fmt: skip
    assert one.ok == (tampering == "intact")
    if not one.ok:
        assert one.bad_seq is not None


def test_two_processes_after_a_verified_checkpoint(sessions, store, monkeypatch):
    monkeypatch.setattr(custody_verify, "_PARALLEL_MIN", 1)
    signed_log(sessions, store, sizes=(5,))
    first = verify(sessions, store)
    with transaction(sessions) as session:
        custody_checkpoints.mark_verified(session, first.verified_ids)
    fill(sessions, 4, start=5)
    checkpoint(sessions, store)
    fill(sessions, 21, start=9)
    checkpoint(sessions, store)
    report = verify(sessions, store, since_checkpoint=True, helper=custody_workers.helper_for(sessions.kw["bind"]))
    assert report.ok and report.started_at == 5 and report.checked == 25 and report.signed_size == 30
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 25).values(agent="someone else"))
    report = verify(sessions, store, since_checkpoint=True, helper=custody_workers.helper_for(sessions.kw["bind"]))
    assert not report.ok and report.bad_seq == 25
