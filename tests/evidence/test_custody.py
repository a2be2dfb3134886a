"""The custody log: appends build the Merkle tree; verify catches every kind of tampering and names it.

Each tamper test works on the real database (SQLite, then PostgreSQL) and a real folder store holding
the checkpoint copies, as `evidence custody verify` sees them.
"""

from __future__ import annotations

import json
import random
import threading

import pytest
import rfc8785
from sqlalchemy import delete, event, select, update

from evidence import custody, custody_checkpoints, custody_tree, merkle, unit_of_work
from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.adapters.filestore import FileStore
from evidence.checkpoint import generate_key
from evidence.custody import EventKind, Outcome
from evidence.custody_checkpoints import Signer
from evidence.custody_verify import verify as verify_log
from evidence.models import CustodyCheckpoint, CustodyEvent, CustodyNode
from evidence.unit_of_work import transaction

SIGNER = Signer(generate_key("test.local/custody"))


@pytest.fixture
def sessions(any_sessions):
    return any_sessions


@pytest.fixture
def store(tmp_path):
    s = FileStore(tmp_path / "objects")
    s.ensure_ready()
    return s


def fill(sessions, n=5, start=0):
    with transaction(sessions) as session:
        for i in range(start, start + n):
            custody.append(session, EventKind.RECEIVED, agent="station=T", item_id=None, details={"n": i, "名": "执法"})


def checkpoint(sessions, store):
    with transaction(sessions) as session:
        return custody_checkpoints.make(session, SIGNER, store)


def verify(sessions, store=None, **kw):
    reads = make_sessionmaker(sessions.kw["bind"], read_only=True)

    def work(session):
        return verify_log(
            session,
            verifier=SIGNER.verifier,
            origin=SIGNER.origin,
            stored=custody_checkpoints.stored(store) if store else (),
            stored_leaves=custody_checkpoints.stored_leaves(store) if store else (lambda cp: None),
            **kw,
        )

    return unit_of_work.run(reads, work)


def signed_log(sessions, store, sizes=(5, 12, 20)):
    """A log checkpointed at each of ``sizes``."""
    done = 0
    for size in sizes:
        fill(sessions, size - done, start=done)
        checkpoint(sessions, store)
        done = size


def recompute_everything(session):
    """What an administrator with database access would do to hide an edit: re-hash every event and
    rebuild the tree, so that the database is self-consistent again."""
    prev = custody.GENESIS
    leaves = []
    for ev in session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).all():
        leaf = custody_tree.leaf_of(ev)
        ev.prev_hash, ev.hash = prev, leaf.hex()
        session.flush()
        prev = ev.hash
        leaves.append(leaf)
    session.execute(delete(CustodyNode))
    custody_tree.store_nodes(session, leaves)
    return leaves


# --- the log itself ------------------------------------------------------------------------------------


def test_leaf_bytes_are_rfc8785_of_the_event(sessions):
    values = ["", "plain", "名 执法", 'quote " back \\ slash', "ctrl \x01\x1f\t\n", "\u2028 \U0001f600", "é"]
    rng = random.Random(7)
    with transaction(sessions) as session:
        for _ in range(60):
            details = {rng.choice(values): rng.choice([1, -5, 2**40, 1.5, 0.1, True, None, rng.choice(values)])}
            details["nested"] = {"list": [rng.choice(values), 3, 2.5e-7, 1e21]}
            ev = custody.append(
                session,
                rng.choice(list(EventKind)),
                agent=rng.choice(values) or "a",
                item_id=None,
                case_id=None,
                tool=rng.choice([None, "ffmpeg 6 — 执法"]),
                outcome=rng.choice(list(Outcome)),
                details=details,
            )
            spec = {
                "v": 2,
                "seq": ev.seq,
                "item": None,
                "case": None,
                "kind": ev.kind,
                "outcome": ev.outcome,
                "agent": ev.agent,
                "tool": ev.tool,
                "occurred_at": custody_tree.iso(ev.occurred_at),
                "recorded_at": custody_tree.iso(ev.recorded_at),
                "details": json.loads(json.dumps(details)),
            }
            assert custody_tree.leaf_data(ev) == rfc8785.dumps(spec)
            assert ev.hash == merkle.leaf_hash(rfc8785.dumps(spec)).hex()


def test_occurred_at_is_the_step_and_recorded_at_the_commit(sessions):
    from datetime import UTC, datetime, timedelta

    earlier = datetime.now(UTC) - timedelta(minutes=3)
    with transaction(sessions) as session:
        ev = custody.append(session, EventKind.HASHED, agent="t", occurred_at=earlier)
        assert ev.occurred_at == earlier and ev.recorded_at > earlier
    assert verify(sessions).ok


def test_stored_subtrees_give_the_roots_and_proofs_of_the_rfc(sessions):
    fill(sessions, 37)
    with transaction(sessions) as session:
        leaves = [bytes.fromhex(h) for h in session.scalars(select(CustodyEvent.hash).order_by(CustodyEvent.seq))]
        tree = custody_tree.StoredTree(session)
        for size in (1, 2, 3, 8, 13, 32, 37):
            assert tree.root(size) == merkle.root(leaves[:size])
            for index in (0, size // 2, size - 1):
                assert tree.inclusion_proof(index, size) == merkle.inclusion_proof(leaves[:size], index)
            for old in (1, size // 3, size - 1):
                if 0 < old < size:
                    assert tree.consistency_proof(old, size) == merkle.consistency_proof(leaves[:size], old)


def test_an_append_recomputes_and_stores_subtrees_that_are_missing(sessions):
    """A log whose subtrees were never stored (or lost): the next appends compute the left siblings
    they need from the leaves, store them, and the stored tree is the RFC's again."""
    fill(sessions, 11)
    with transaction(sessions) as session:
        session.execute(delete(CustodyNode))
    fill(sessions, 5, start=11)  # leaf 15 completes the 16-leaf subtree: needs levels 1..3 on its left
    with transaction(sessions) as session:
        leaves = [bytes.fromhex(h) for h in session.scalars(select(CustodyEvent.hash).order_by(CustodyEvent.seq))]
        stored = {(n.level, n.idx) for n in session.scalars(select(CustodyNode))}
        assert {(1, 6), (2, 2), (3, 0), (4, 0)} <= stored
        assert custody_tree.StoredTree(session).root(16) == merkle.root(leaves)


def test_intact_log_verifies_against_its_checkpoints(sessions, store):
    signed_log(sessions, store)
    fill(sessions, 3, start=20)
    report = verify(sessions, store)
    assert report.ok, report.reason
    assert (report.checked, report.size, report.checkpoints, report.signed_size) == (23, 23, 3, 20)
    assert report.warnings == ["3 events after the newest checkpoint are not yet signed"]


def test_a_checkpoint_is_made_only_when_the_log_grew(sessions, store):
    fill(sessions, 4)
    assert checkpoint(sessions, store).tree_size == 4
    assert checkpoint(sessions, store) is None
    keys = sorted(k for k, _ in store.list_keys(custody_checkpoints.PREFIX))
    assert [k.rsplit(".", 1)[1] for k in keys] == ["leaves", "note"]
    assert len(store.read_record(keys[0])) == 4 * 32


def test_each_event_links_to_the_previous(sessions):
    fill(sessions, 3)
    with transaction(sessions) as session:
        events = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).all()
    assert events[0].prev_hash == custody.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


# --- tampering, each caught and named -------------------------------------------------------------------


def test_edited_event_is_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 7).values(details='{"n":99}'))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 7 and "altered" in report.reason


def test_edited_outcome_is_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 2).values(outcome=Outcome.FAILURE.value))
    assert verify(sessions, store).bad_seq == 2


def test_deleted_event_is_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(delete(CustodyEvent).where(CustodyEvent.seq == 9))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 9 and "missing" in report.reason


def test_reordered_events_are_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 4).values(seq=-4))
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 5).values(seq=4))
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == -4).values(seq=5))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 4


def test_inserted_event_is_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        # make room after event 10 and forge a self-consistent event there
        for seq in range(20, 10, -1):
            session.execute(update(CustodyEvent).where(CustodyEvent.seq == seq).values(seq=seq + 1))
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 12).values(prev_hash="e" * 64))
        ten = session.get(CustodyEvent, 10)
        forged = custody_tree.leaf_data_v2(
            11, None, None, "received", "success", "forger", None, custody_tree.iso(ten.occurred_at),
            custody_tree.iso(ten.occurred_at), "{}",
        )  # fmt: skip
        session.add(
            CustodyEvent(
                seq=11, prev_hash=ten.hash, item_id=None, kind="received", outcome="success", agent="forger",
                tool=None, occurred_at=ten.occurred_at, recorded_at=ten.occurred_at, details="{}", format=2,
                hash=merkle.leaf_hash(forged).hex(),
            )
        )  # fmt: skip
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 12


def test_cut_off_tail_is_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(delete(CustodyEvent).where(CustodyEvent.seq > 16))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 17
    assert "truncated" in report.reason and "20" in report.reason


def test_recomputed_log_is_caught_and_the_edit_named(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 14).values(agent="someone else"))
        recompute_everything(session)
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 14, report.reason
    assert "rewritten" in report.reason


def test_recomputed_log_is_caught_even_with_the_checkpoint_rows_deleted(sessions, store):
    signed_log(sessions, store)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 3).values(agent="someone else"))
        recompute_everything(session)
        session.execute(delete(CustodyCheckpoint))
    report = verify(sessions, store)  # the object store's copies still hold the signed roots
    assert not report.ok and report.bad_seq == 3, report.reason


def test_a_checkpoint_signed_by_another_key_is_refused(sessions, store):
    signed_log(sessions, store, sizes=(6,))
    fill(sessions, 2, start=6)
    with transaction(sessions) as session:
        custody_checkpoints.make(session, Signer(generate_key("test.local/custody")), None)
    report = verify(sessions)
    assert not report.ok and "size 8" in report.reason


def test_checkpoints_that_disagree_are_a_fork(sessions, store):
    signed_log(sessions, store, sizes=(6,))
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 2).values(agent="x"))
        recompute_everything(session)
        session.execute(delete(CustodyCheckpoint))
        custody_checkpoints.make(session, SIGNER, None)  # an insider with the key re-signs the rewrite
    report = verify(sessions, store)
    assert not report.ok and "disagree" in report.reason


def test_since_checkpoint_verifies_only_the_new_events(sessions, store):
    signed_log(sessions, store, sizes=(16,))
    first = verify(sessions, store)
    assert first.ok
    with transaction(sessions) as session:
        custody_checkpoints.mark_verified(session, first.verified_ids)
    fill(sessions, 5, start=16)
    checkpoint(sessions, store)
    report = verify(sessions, store, since_checkpoint=True)
    assert report.ok and report.started_at == 16 and report.checked == 5 and report.signed_size == 21
    with transaction(sessions) as session:  # an edit inside the verified part is not re-read then...
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 3).values(agent="x"))
    assert verify(sessions, store, since_checkpoint=True).ok
    assert verify(sessions, store).bad_seq == 3  # ...but a full verification finds it


def test_the_database_refuses_a_fork(sessions):
    from sqlalchemy.exc import IntegrityError

    fill(sessions, 2)
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        first = session.get(CustodyEvent, 1)
        session.add(
            CustodyEvent(
                seq=3, prev_hash=first.hash, item_id=None, kind="received", outcome="success", agent="forger",
                tool=None, occurred_at=first.occurred_at, details="{}", format=2, hash="a" * 64,
            )
        )  # fmt: skip


# --- several writers, and a reader that blocks nobody ----------------------------------------------------


def test_appends_from_several_sessions_never_fork(sessions, store):
    errors = []

    def writer():
        try:
            for _ in range(15):
                with transaction(sessions) as session:
                    custody.append(session, EventKind.RECEIVED, agent="thread")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    checkpoint(sessions, store)
    report = verify(sessions, store)
    assert report.ok and report.checked == 60 and report.signed_size == 60


def test_verify_takes_no_write_lock_so_appends_go_on_meanwhile(sessions):
    """A long `custody verify` once held SQLite's write lock and stalled ingest until it finished."""
    fill(sessions, 30)
    engine = sessions.kw["bind"]
    reading, go = threading.Event(), threading.Event()

    def hold(_conn, _cursor, statement, *_):
        if "FROM custody_events" in statement and not reading.is_set():
            reading.set()
            go.wait(30)  # verify is mid-walk, its transaction open

    event.listen(engine, "after_cursor_execute", hold)
    reports = []
    reads = make_sessionmaker(engine, read_only=True)  # as `evidence custody verify` wires it
    walker = threading.Thread(target=lambda: reports.append(unit_of_work.run(reads, verify_log)))
    walker.start()
    writer = make_engine(engine.url.render_as_string(hide_password=False))
    if writer.dialect.name == "sqlite":
        event.listen(writer, "connect", lambda dbapi_conn, _: dbapi_conn.execute("PRAGMA busy_timeout=0"))
    try:
        assert reading.wait(30)
        with transaction(make_sessionmaker(writer)) as session:  # would fail at once: "database is locked"
            custody.append(session, EventKind.RECEIVED, agent="station=T", details={"during": "verify"})
    finally:
        go.set()
        walker.join(30)
        event.remove(engine, "after_cursor_execute", hold)
        writer.dispose()
    assert reports[0].ok
    assert unit_of_work.run(reads, verify_log).checked == 31


# --- a log written before the Merkle tree ------------------------------------------------------------------


def test_a_format_1_chain_is_upgraded_and_stays_verifiable(sessions, store):
    from datetime import UTC, datetime

    with transaction(sessions) as session:
        prev = custody.GENESIS
        for seq in range(1, 8):
            fields = dict(
                seq=seq, prev_hash=prev, item_id=None, kind="received", outcome="success", agent="old",
                tool=None, occurred_at=datetime(2026, 1, 1, 0, 0, seq, tzinfo=UTC), details='{"old":true}',
            )  # fmt: skip
            h = custody_tree.event_hash(**fields)
            session.add(CustodyEvent(**fields, hash=h, format=1, recorded_at=fields["occurred_at"]))
            session.flush()
            prev = h
    with transaction(sessions) as session:
        assert custody.upgrade_log(session, "upgrader") == 7
    with transaction(sessions) as session:
        assert custody.upgrade_log(session, "upgrader") is None  # once
        last = session.get(CustodyEvent, 8)
        assert last.kind == "log_upgraded" and json.loads(last.details)["chain_head"] == prev
    fill(sessions, 4, start=8)
    checkpoint(sessions, store)
    assert verify(sessions, store).ok
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 3).values(details='{"old":false}'))
    report = verify(sessions, store)
    assert not report.ok and report.bad_seq == 3


def test_a_tree_signed_twice_keeps_the_note_already_stored(sessions, store):
    from datetime import UTC, datetime, timedelta

    fill(sessions, 4)
    first = checkpoint(sessions, store)
    with transaction(sessions) as session:  # another process, a moment later, the same tree
        later = datetime.now(UTC) + timedelta(seconds=5)
        again = custody_checkpoints.make(session, SIGNER, store, force=True, now=later)
        assert again.note == first.note
    assert verify(sessions, store).ok


def test_details_are_rfc8785_whether_or_not_they_take_the_fast_path():
    rng = random.Random(11)
    pieces = ["a", "z", "名", "é", "😀", "\U0001d11e", "\u2028", "\x00", "\x7f", '"', "\\", "v2.0", "1e5", "x"]
    values = [0, -1, 2**52, 1.0, 0.5, -2.5e-9, 1e21, 123.456, True, False, None]
    for _ in range(2000):

        def word():
            return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))

        details = {word(): rng.choice([*values, word(), [word(), rng.choice(values)], {word(): rng.choice(values)}])
                   for _ in range(rng.randint(0, 4))}  # fmt: skip
        assert custody.details_text(details) == rfc8785.dumps(details).decode()
    with pytest.raises(ValueError):
        custody.details_text({"x": float("nan")})
