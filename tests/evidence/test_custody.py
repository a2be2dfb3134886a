"""The custody chain detects any edit, deletion, insertion or reordering."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, event, select, update

from evidence import custody, unit_of_work
from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.custody import EventKind, Outcome
from evidence.models import CustodyEvent
from evidence.unit_of_work import transaction


@pytest.fixture
def sessions(any_sessions):
    return any_sessions


def fill(sessions, n=5):
    with transaction(sessions) as session:
        for i in range(n):
            custody.append(session, EventKind.RECEIVED, agent="station=T", details={"n": i, "名": "执法"})


def verify(sessions):
    with transaction(sessions) as session:
        return custody.verify(session)


def test_intact_chain_verifies(sessions):
    fill(sessions)
    report = verify(sessions)
    assert report.ok and report.checked == 5 and len(report.head_hash) == 64


def test_each_event_links_to_the_previous(sessions):
    fill(sessions, 3)
    with transaction(sessions) as session:
        events = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).all()
    assert events[0].prev_hash == custody.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_edited_event_is_detected(sessions):
    fill(sessions)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 3).values(details='{"n":99}'))
    report = verify(sessions)
    assert not report.ok and report.bad_seq == 3 and "altered" in report.reason


def test_edited_outcome_is_detected(sessions):
    fill(sessions)
    with transaction(sessions) as session:
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 2).values(outcome=Outcome.FAILURE.value))
    assert verify(sessions).bad_seq == 2


def test_deleted_event_is_detected(sessions):
    fill(sessions)
    with transaction(sessions) as session:
        session.execute(delete(CustodyEvent).where(CustodyEvent.seq == 2))
    report = verify(sessions)
    assert not report.ok and report.bad_seq == 3 and "gap" in report.reason


def test_reordered_events_are_detected(sessions):
    fill(sessions)
    with transaction(sessions) as session:
        a, b = (session.get(CustodyEvent, 2), session.get(CustodyEvent, 3))
        swap = {c: (getattr(a, c), getattr(b, c)) for c in ("details", "hash", "prev_hash", "occurred_at")}
        session.execute(delete(CustodyEvent).where(CustodyEvent.seq.in_([2, 3])))
        session.flush()
        for seq, idx in ((2, 1), (3, 0)):
            session.add(
                CustodyEvent(
                    seq=seq,
                    item_id=None,
                    kind="received",
                    outcome="success",
                    agent="station=T",
                    tool=None,
                    **{c: v[idx] for c, v in swap.items()},
                )
            )
    report = verify(sessions)
    assert not report.ok and report.bad_seq == 2


def test_inserted_event_is_detected(sessions):
    fill(sessions)
    with transaction(sessions) as session:
        # renumber the tail to make room, then forge an event in the gap with a self-consistent hash
        for seq in range(5, 2, -1):
            session.execute(update(CustodyEvent).where(CustodyEvent.seq == seq).values(seq=seq + 1))
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 4).values(prev_hash="f" * 64))
        prev = session.get(CustodyEvent, 2).hash
        fields = dict(
            seq=3,
            prev_hash=prev,
            item_id=None,
            kind="received",
            outcome="success",
            agent="forger",
            tool=None,
            occurred_at=session.get(CustodyEvent, 2).occurred_at,
            details="{}",
        )
        forged = custody.event_hash(**fields)
        session.add(CustodyEvent(**fields, hash=forged))
        session.flush()
        # relink the next event to the forgery: its own hash no longer matches
        session.execute(update(CustodyEvent).where(CustodyEvent.seq == 4).values(prev_hash=forged))
    report = verify(sessions)
    assert not report.ok and report.bad_seq == 4


def test_the_database_refuses_a_fork(sessions):
    from sqlalchemy.exc import IntegrityError

    fill(sessions, 2)
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        first = session.get(CustodyEvent, 1)
        fields = dict(
            seq=3,
            prev_hash=first.hash,
            item_id=None,
            kind="received",
            outcome="success",
            agent="forger",
            tool=None,
            occurred_at=first.occurred_at,
            details="{}",
        )
        session.add(CustodyEvent(**fields, hash=custody.event_hash(**fields)))


def test_appends_from_two_sessions_never_fork(sessions):
    import threading

    errors = []

    def writer():
        try:
            for _ in range(10):
                with transaction(sessions) as session:
                    custody.append(session, EventKind.RECEIVED, agent="thread")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = verify(sessions)
    assert report.ok and report.checked == 30


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
    walker = threading.Thread(target=lambda: reports.append(unit_of_work.run(reads, custody.verify)))
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
    assert unit_of_work.run(reads, custody.verify).checked == 31
