"""The custody log with several OS processes at once, as the daemon, workers and API processes run it.

Writers are real processes (``python -c``) on the same database file (SQLite) or database (PostgreSQL),
released together; afterwards the log must be whole (every event, seq contiguous, each process's events
in its own order), verify must pass, and a checkpoint's root must equal the root recomputed from the
rows. And verify, mid-walk, must not stop another process from appending: that process is allowed no
lock wait at all (SQLite ``busy_timeout=0``, PostgreSQL ``lock_timeout``) and no retry.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from evidence import custody, custody_checkpoints, custody_tree, merkle
from evidence.adapters.database import make_engine, make_sessionmaker, migrate
from evidence.adapters.filestore import FileStore
from evidence.checkpoint import generate_key
from evidence.custody import EventKind
from evidence.custody_checkpoints import Signer
from evidence.custody_verify import verify
from evidence.models import CustodyEvent
from evidence.unit_of_work import transaction

SIGNER = Signer(generate_key("test.local/custody"))
PROCESSES, EACH = 4, 50

# A writer: waits for the go file, then appends; each event its own transaction, as ingest does.
# ``strict``: no lock wait allowed (and no retry), and it appends until the stop file appears.
WRITER = r"""
import sys, time
from pathlib import Path
from sqlalchemy import event
from evidence import custody
from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.custody import EventKind
from evidence.unit_of_work import run, transaction

url, name, count, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
strict = sys.argv[5] == "strict"
engine = make_engine(url)
if strict:
    def no_waiting(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=0" if engine.dialect.name == "sqlite" else "SET lock_timeout = '200ms'")
        cur.close()
    event.listen(engine, "connect", no_waiting)
sessions = make_sessionmaker(engine)
(folder / f"ready-{name}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
i = 0
while (i < count) if not strict else not (folder / "stop").exists():
    def work(session, i=i):
        custody.append(session, EventKind.RECEIVED, agent=f"process={name}", details={"n": i, "名": "执法"})
    if strict:
        with transaction(sessions) as session:
            work(session)
    else:
        run(sessions, work)
    i += 1
engine.dispose()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    url = f"sqlite:///{tmp_path / 'e.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(url):
    e = make_engine(url)
    yield e
    e.dispose()


@pytest.fixture
def store(tmp_path):
    s = FileStore(tmp_path / "objects")
    s.ensure_ready()
    return s


def start_writers(processes, url, folder: Path, names, count=EACH, strict=False):
    """Start the writer processes, wait until every one is ready, then release them together."""
    folder.mkdir(exist_ok=True)
    procs = [
        processes([sys.executable, "-c", WRITER, url, name, count, folder, "strict" if strict else "-"])
        for name in names
    ]
    deadline = time.monotonic() + 60
    while not all((folder / f"ready-{name}").exists() for name in names):
        assert time.monotonic() < deadline, "the writer processes did not start"
        assert all(p.poll() is None for p in procs), "a writer process died before starting"
        time.sleep(0.02)
    (folder / "go").touch()
    return procs


def finish(procs, timeout=120):
    for p in procs:
        assert p.wait(timeout) == 0, "a writer process failed"


def count_events(engine) -> int:
    with transaction(make_sessionmaker(engine, read_only=True)) as session:
        return session.scalar(select(func.count()).select_from(CustodyEvent)) or 0


def verify_now(engine, store):
    with transaction(make_sessionmaker(engine, read_only=True)) as session:
        return verify(
            session,
            verifier=SIGNER.verifier,
            origin=SIGNER.origin,
            stored=custody_checkpoints.stored(store),
            stored_leaves=custody_checkpoints.stored_leaves(store),
        )


def test_processes_appending_at_once_make_one_whole_verifiable_log(processes, url, engine, store, tmp_path):
    names = [f"w{i}" for i in range(PROCESSES)]
    finish(start_writers(processes, url, tmp_path / "sync", names))

    with transaction(make_sessionmaker(engine, read_only=True)) as session:
        events = list(session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)))
        leaves = [custody_tree.leaf_of(ev) for ev in events]  # from the fields, not the stored hash
    assert [ev.seq for ev in events] == list(range(1, PROCESSES * EACH + 1))
    for name in names:
        mine = [json.loads(ev.details)["n"] for ev in events if ev.agent == f"process={name}"]
        assert mine == list(range(EACH)), f"process {name}'s events are missing or out of its order"
    assert [ev.prev_hash for ev in events[1:]] == [ev.hash for ev in events[:-1]]

    with transaction(make_sessionmaker(engine)) as session:
        cp = custody_checkpoints.make(session, SIGNER, store)
        assert cp is not None and cp.tree_size == PROCESSES * EACH
        stored_root = custody_tree.StoredTree(session).root(cp.tree_size)
    assert bytes.fromhex(cp.root_hash) == merkle.root(leaves) == stored_root

    report = verify_now(engine, store)
    assert report.ok, report.reason
    assert report.checked == report.signed_size == PROCESSES * EACH and report.unsigned == 0


def test_verify_mid_walk_does_not_stop_another_process_appending(processes, url, engine, store, tmp_path):
    """The appending process may not wait for any lock; verify holds its read open while it appends."""
    with transaction(make_sessionmaker(engine)) as session:  # a signed start (this process then only reads)
        for i in range(10):
            custody.append(session, EventKind.RECEIVED, agent="test", details={"n": i})
        assert custody_checkpoints.make(session, SIGNER, store) is not None
    sync = tmp_path / "sync"
    procs = start_writers(processes, url, sync, ["appender"], strict=True)
    deadline = time.monotonic() + 60
    while count_events(engine) < 20:
        assert time.monotonic() < deadline and procs[0].poll() is None, "the appender made no progress"
        time.sleep(0.02)

    grew = []

    def hold(_conn, _cursor, statement, *_):
        # verify has begun reading the events (its read transaction is open): the appender must go on
        if "FROM custody_events" in statement and "ORDER BY seq" in statement and not grew:
            at = count_events(engine)
            until = time.monotonic() + 60
            while count_events(engine) < at + 25:
                assert time.monotonic() < until and procs[0].poll() is None, "appends stopped while verify ran"
                time.sleep(0.02)
            grew.append(count_events(engine) - at)

    event.listen(engine, "after_cursor_execute", hold)
    try:
        report = verify_now(engine, store)
    finally:
        event.remove(engine, "after_cursor_execute", hold)
    assert grew and grew[0] >= 25
    assert report.ok, report.reason
    assert report.signed_size == 10 and report.checked >= 20

    (sync / "stop").touch()
    finish(procs)  # exit 0: no append failed on a lock, none retried
    with transaction(make_sessionmaker(engine)) as session:
        cp = custody_checkpoints.make(session, SIGNER, store)
    final = verify_now(engine, store)
    assert final.ok and cp is not None and final.checked == final.signed_size == cp.tree_size == count_events(engine)
