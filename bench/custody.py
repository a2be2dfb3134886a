"""Speed of the custody log: concurrent appends, full verification, inclusion proofs, export against cp.

Run from the project root::

    .venv/bin/python bench/custody.py [--events 4000] [--writers 4] [--log 1000000] [--proofs 1000]
                                      [--reps 3] [--backends sqlite,postgresql] [--work DIR]
                                      [--sections append,verify,proofs,export] [--export-gb 2] [--export-reps 3]

Each measurement is compared with its target and with a baseline measured in the same run:

1. **Append**: ``--writers`` OS processes (spawned) append ``--events`` custody events in all to one
   freshly migrated database, each event its own transaction through ``unit_of_work.run`` and
   ``custody.append``, as ingest does; the engine is the system's (``make_engine``: SQLite file in WAL
   mode, ``synchronous=FULL``, ``BEGIN IMMEDIATE``; PostgreSQL: the advisory lock). Rate = events /
   (last writer's end - first writer's start). Baseline: the same SQL per event (lock, read the tail,
   insert the row and, every other event, a node) run with the bare driver (``sqlite3``/``psycopg``) by
   the same number of processes: what any append must pay to the database and the disk. Then the
   log is checkpointed and verified (every event present, seq contiguous, root matches).
   Target: >= 2,000 events/s on the embedded default (SQLite).
2. **Verify**: a log of ``--log`` events (default 1,000,000) is built in bulk (rows with their
   correct leaf hashes, the stored subtrees by ``custody_tree.store_nodes``, one signed checkpoint
   copied to a folder store), then ``custody_verify.verify`` runs in a read-only unit of work, as
   ``evidence custody verify`` does. Baseline: reading the same columns of every row with the bare
   driver (the least any verifier must read). The SQLite file is kept in ``--work`` and reused when it
   already holds ``--log`` events. Target: >= 200,000 events/s.
3. **Proofs** at that size: ``StoredTree.inclusion_proof`` for ``--proofs`` random leaves against the
   checkpoint, and ``custody_checkpoints.proofs`` (the per-item path of ``custody log --proof`` and the
   API) for items of 10 events; every proof is checked with ``merkle.verify_inclusion``. Baseline:
   one primary-key read of an event in the same session. Target: <= 1 ms per proof.
4. **Export** of a ~``--export-gb`` GB case (default 2) against ``cp``: one real H.264 clip of ~100 MB
   is made with ffmpeg (CBR, so it has that size), and ``--export-clips`` distinct copies of it
   (``ffmpeg -c copy -metadata title=N``: valid files, each its own SHA-256) are ingested with
   ``ingest.pipeline.ingest_file`` into an embedded-default home (SQLite + folder store) and linked to
   one case (``cases.link``). Timed: ``export.run`` (as ``evidence export`` runs it: a new request, a
   signed checkpoint, payload copied and checked, custody logs with proofs, manifests, signature)
   against ``cp -r`` of the same stored originals to a folder on the same disk. Both run warm: the
   originals are read once before (they fit in the page cache), the two alternate ``--export-reps``
   times (default 3), dirty pages are flushed (``sync``, untimed) before each run, and the medians
   are compared. ``cp -r`` followed by ``sync`` is shown too (the export fsyncs what it writes,
   plain ``cp`` leaves it in the page cache), and the CPU seconds each used. The built home is kept
   in ``--work`` and reused; the last package is validated with the ``bagit`` library (untimed).
   Target: export <= 1.3x ``cp``.

This is a benchmark, not a test: it prints a table and exits 1 if a target is missed (0 otherwise).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import multiprocessing
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.machine import cpu_model, log, print_results  # noqa: E402
from cli import custody_workers  # noqa: E402
from evidence import custody, custody_checkpoints, custody_tree, merkle, unit_of_work  # noqa: E402
from evidence.adapters.database import make_engine, make_sessionmaker, migrate  # noqa: E402
from evidence.adapters.filestore import FileStore  # noqa: E402
from evidence.checkpoint import generate_key, parse_signing_key  # noqa: E402
from evidence.custody import EventKind  # noqa: E402
from evidence.custody_checkpoints import Signer  # noqa: E402
from evidence.custody_verify import verify  # noqa: E402
from evidence.models import CustodyEvent  # noqa: E402

APPEND_TARGET = 2000.0  # events/s, embedded default
VERIFY_TARGET = 200_000.0  # events/s
PROOF_TARGET_MS = 1.0
PG_ADMIN = os.environ.get("EVIDENCE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
ORIGIN = "bench.local/custody"
EXPORT_TARGET = 1.3  # export time / cp time
MB = 1_000_000


# ---------------------------------------------------------------------------- databases


def pg_reachable() -> str | None:
    """Why PostgreSQL cannot be used (None when it can)."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip PostgreSQL
        return str(exc).splitlines()[0]


def pg_database(name: str) -> tuple[str, Callable[[], None]]:
    """A new, migrated PostgreSQL database and the function that drops it."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def fresh_database(backend: str, work: Path, name: str) -> tuple[str, Callable[[], None]]:
    if backend == "postgresql":
        return pg_database(f"evidence_bench_{name}")
    path = work / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url, lambda: None


def driver_url(url: str) -> str:
    """The URL as the bare driver takes it (a file path for sqlite3, a libpq URL for psycopg)."""
    if url.startswith("sqlite"):
        return url.split("///", 1)[1]
    return url.replace("postgresql+psycopg://", "postgresql://")


# ---------------------------------------------------------------------------- 1. append


def _details(writer: int, i: int) -> dict[str, Any]:
    digest = hashlib.sha256(f"{writer}-{i}".encode()).hexdigest()
    return {"sha256": digest, "bytes": 104_857_600 + i, "file": f"BENCH{writer:02d}_{i:06d}.MP4"}


BATCH = 4  # ingest writes received, hashed, stored and verified in one transaction


def append_writer(url: str, writer: int, count: int, ready: Any, go: Any, results: Any, batch: int = 1) -> None:
    """One writer process: ``count`` events, ``batch`` to a unit of work (1: each its own, the worst case)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    agent = f"station=BENCH;worker={writer}"

    def some(i: int, n: int) -> None:
        def work(s: Session) -> None:
            for j in range(n):
                custody.append(s, EventKind.HASHED, agent=agent, tool="hashlib sha256", details=_details(writer, i + j))

        unit_of_work.run(sessions, work)

    some(-1, 1)  # connect, compile the statements: not timed
    ready.put(writer)
    go.wait()
    cpu0, t0 = time.process_time(), time.monotonic()
    for i in range(0, count, batch):
        some(i, min(batch, count - i))
    results.put((writer, t0, time.monotonic(), time.process_time() - cpu0))
    engine.dispose()


def bare_writer(url: str, writer: int, count: int, ready: Any, go: Any, results: Any) -> None:
    """The same SQL per event as ``custody.append`` with the bare driver: the database's and disk's share."""
    path = driver_url(url)
    occurred = "2026-12-01 09:00:00.000000"
    cols = (
        "seq, item_id, case_id, kind, outcome, agent, tool, occurred_at, details, prev_hash, hash, format, recorded_at"
    )
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(path, timeout=30, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        begin, lock, mark = "BEGIN IMMEDIATE", None, "?"
    else:
        import psycopg

        conn = psycopg.connect(path, autocommit=True, connect_timeout=5)
        begin, lock, mark = "BEGIN", "SELECT pg_advisory_xact_lock(1163281732)", "%s"
    insert_event = f"INSERT INTO custody_events ({cols}) VALUES ({', '.join([mark] * 13)})"
    insert_node = f"INSERT INTO custody_nodes (level, idx, hash) VALUES ({mark}, {mark}, {mark})"
    tail = "SELECT seq, hash FROM custody_events ORDER BY seq DESC LIMIT 1"

    def one(i: int) -> None:
        conn.execute(begin)
        if lock:
            conn.execute(lock)
        row = conn.execute(tail).fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, custody.GENESIS)
        leaf = hashlib.sha256(f"bare-{writer}-{i}-{seq}".encode()).digest()
        conn.execute(
            insert_event,
            (seq, None, None, "hashed", "success", "bare", None, occurred, "{}", prev, leaf.hex(), 2, occurred),
        )
        if seq % 2 == 0:
            conn.execute(insert_node, (1, seq // 2 - 1, leaf))
        conn.execute("COMMIT")

    one(-1)
    ready.put(writer)
    go.wait()
    cpu0, t0 = time.process_time(), time.monotonic()
    for i in range(count):
        one(i)
    results.put((writer, t0, time.monotonic(), time.process_time() - cpu0))
    conn.close()


def run_writers(target: Callable[..., None], url: str, writers: int, events: int) -> dict[str, float]:
    """Start ``writers`` processes running ``target``, release them together; events/s over the whole run."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per = [events // writers + (1 if w < events % writers else 0) for w in range(writers)]
    procs = [ctx.Process(target=target, args=(url, w, per[w], ready, go, results)) for w in range(writers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        go.set()
        done = [results.get(timeout=3600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    for p in procs:
        if p.exitcode != 0:
            raise SystemExit(f"a writer process failed (exit {p.exitcode})")
    elapsed = max(end for _, _, end, _ in done) - min(start for _, start, _, _ in done)
    return {"rate": events / elapsed, "seconds": elapsed, "cpu_ms": 1000 * sum(c for *_, c in done) / events}


def check_log(url: str, expected: int, store: FileStore) -> None:
    """Every event present, seq contiguous, a checkpoint made, and verify agrees with its root."""
    engine = make_engine(url)
    try:
        signer = Signer(generate_key(ORIGIN))
        with Session(engine) as session:
            seqs = list(session.scalars(select(CustodyEvent.seq).order_by(CustodyEvent.seq)))
        if seqs != list(range(1, expected + 1)):
            raise SystemExit(f"the log holds {len(seqs)} events, not seq 1..{expected} contiguous")
        cp = unit_of_work.run(make_sessionmaker(engine), lambda s: custody_checkpoints.make(s, signer, store))
        stored = custody_checkpoints.stored(store)
        report = unit_of_work.run(
            make_sessionmaker(engine, read_only=True),
            lambda s: verify(s, verifier=signer.verifier, origin=signer.origin, stored=stored),
        )
        if cp is None or not report.ok or report.signed_size != expected:
            raise SystemExit(f"the appended log does not verify: {report}")
    finally:
        engine.dispose()


def bench_append(backend: str, work: Path, writers: int, events: int) -> list[list[Any]]:
    log(f"{backend}: 1. append, {writers} writer processes, {events} events, one transaction each")
    url, drop = fresh_database(backend, work, "append")
    try:
        ours = run_writers(append_writer, url, writers, events)
        log(f"  custody.append: {ours['rate']:.0f} events/s ({ours['seconds']:.2f} s, {ours['cpu_ms']:.2f} ms CPU/ev)")
        store = FileStore(Path(tempfile.mkdtemp(prefix=f"append-store-{backend}-", dir=work)))
        store.ensure_ready()
        check_log(url, events + writers, store)  # + one untimed warm-up event per writer
        log("  log checked: all events, seq contiguous, checkpoint made and verified")
    finally:
        drop()
    url, drop = fresh_database(backend, work, "append-batched")
    try:
        batched = run_writers(functools.partial(append_writer, batch=BATCH), url, writers, events)
        log(f"  {BATCH} events a transaction: {batched['rate']:.0f} events/s ({batched['cpu_ms']:.2f} ms CPU/ev)")
    finally:
        drop()
    url, drop = fresh_database(backend, work, "append-bare")
    try:
        bare = run_writers(bare_writer, url, writers, events)
        log(f"  bare driver, same SQL: {bare['rate']:.0f} events/s ({bare['cpu_ms']:.2f} ms CPU/event)")
    finally:
        drop()
    target = APPEND_TARGET if backend == "sqlite" else None
    return [
        [
            f"{backend}: append, {writers} processes, 1 tx/event",
            f"{ours['rate']:.0f} ev/s",
            f"bare driver {bare['rate']:.0f} ev/s (ratio {ours['rate'] / bare['rate']:.2f})",
            f"{ours['rate'] / target:.2f}" if target else "-",
            f">= {target:.0f} ev/s" if target else "(info)",
            ("PASS" if ours["rate"] >= target else "FAIL") if target else "",
        ],
        [
            f"{backend}: append, {writers} processes, {BATCH} events/tx (as ingest)",
            f"{batched['rate']:.0f} ev/s",
            f"bare driver {bare['rate']:.0f} ev/s (ratio {batched['rate'] / bare['rate']:.2f})",
            f"{batched['rate'] / target:.2f}" if target else "-",
            f">= {target:.0f} ev/s" if target else "(info)",
            ("PASS" if batched["rate"] >= target else "FAIL") if target else "",
        ],
    ]


# ---------------------------------------------------------------------------- 2. the large log


def _rows(n: int, start: datetime) -> Iterator[tuple[dict[str, Any], bytes]]:
    """``n`` format-2 events with their leaf hashes, as ``custody.append`` would have written them."""
    kinds = [k.value for k in (EventKind.RECEIVED, EventKind.HASHED, EventKind.STORED, EventKind.VERIFIED)]
    kinds += [EventKind.PROBED.value, EventKind.PROXY_MADE.value, EventKind.MEDIA_VIEWED.value]
    prev = custody.GENESIS
    for seq in range(1, n + 1):
        occurred = start + timedelta(microseconds=seq * 31_537)
        recorded = occurred + timedelta(microseconds=1_234)
        kind = kinds[seq % len(kinds)]
        agent = "station=S01" if seq % 3 else f"user=officer{seq % 97};ip=10.0.{seq % 7}.{seq % 251}"
        tool = None if seq % 2 else "ffmpeg 6.1.1"
        case_id = None if seq % 5 else seq // 50
        digest = hashlib.sha256(seq.to_bytes(8, "big")).hexdigest()
        details = f'{{"bytes":{100_000_000 + seq},"file":"CAM{seq % 1200:04d}_{seq:07d}.MP4","sha256":"{digest}"}}'
        data = custody_tree.leaf_data_v2(
            seq,
            None,
            case_id,
            kind,
            "success",
            agent,
            tool,
            custody_tree.iso(occurred),
            custody_tree.iso(recorded),
            details,
        )
        leaf = merkle.leaf_hash(data)
        row = {
            "seq": seq,
            "item_id": None,
            "case_id": case_id,
            "kind": kind,
            "outcome": "success",
            "agent": agent,
            "tool": tool,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "details": details,
            "format": 2,
            "prev_hash": prev,
            "hash": leaf.hex(),
        }
        prev = row["hash"]
        yield row, leaf


def build_log(engine: Engine, n: int, store: FileStore, signer: Signer) -> None:
    """Bulk-insert ``n`` events with correct leaves and stored subtrees, then sign one checkpoint."""
    sample = dict(next(_rows(1, datetime(2026, 1, 1, tzinfo=UTC)))[0])
    assert sample["details"] == custody.details_text(
        {"sha256": sample["details"][-66:-2], "bytes": 100_000_001, "file": "CAM0001_0000001.MP4"}
    ), "bench rows must hold the RFC 8785 text custody.append would write"
    t0 = time.monotonic()
    leaves: list[bytes] = []
    insert_event = CustodyEvent.__table__.insert()  # type: ignore[attr-defined]
    with engine.begin() as conn:
        batch = []
        for row, leaf in _rows(n, datetime(2026, 1, 1, tzinfo=UTC)):
            batch.append(row)
            leaves.append(leaf)
            if len(batch) == 20_000:
                conn.execute(insert_event, batch)
                batch = []
        if batch:
            conn.execute(insert_event, batch)
        with Session(conn) as session:
            custody_tree.store_nodes(session, leaves)
    log(f"  built {n:,} events and their subtrees in {time.monotonic() - t0:.0f} s")
    t0 = time.monotonic()
    cp = unit_of_work.run(make_sessionmaker(engine), lambda s: custody_checkpoints.make(s, signer, store))
    assert cp is not None and bytes.fromhex(cp.root_hash) == merkle.root(leaves), "stored tree != recomputed root"
    log(f"  checkpoint at {n:,} made in {time.monotonic() - t0:.1f} s (root checked against the leaves)")


def large_log(backend: str, work: Path, n: int) -> tuple[Engine, FileStore, Signer, Callable[[], None]]:
    """The ``n``-event log (SQLite: reused from ``work`` when complete)."""
    store_dir = work / f"log-{backend}-{n}-store"
    key_file = work / f"log-{backend}-{n}.key"
    if backend == "sqlite":
        path = work / f"log-{n}.db"
        if path.exists() and key_file.exists():
            engine = make_engine(f"sqlite:///{path}")
            with engine.connect() as conn:
                have = conn.execute(text("SELECT count(*) FROM custody_checkpoints WHERE tree_size = :n"), {"n": n})
                if have.scalar_one():
                    log(f"  reusing {path}")
                    return engine, FileStore(store_dir), Signer(parse_signing_key(key_file.read_text())), lambda: None
            engine.dispose()
        url, drop = fresh_database(backend, work, f"log-{n}")
    else:
        url, drop = pg_database("evidence_bench_log")
    engine = make_engine(url)
    if store_dir.exists():
        import shutil

        shutil.rmtree(store_dir)
    store = FileStore(store_dir)
    store.ensure_ready()
    signer = Signer(generate_key(ORIGIN))
    key_file.write_text(signer.key.encode())
    build_log(engine, n, store, signer)
    if backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE custody_events")
            conn.exec_driver_sql("VACUUM ANALYZE custody_nodes")

    def close() -> None:
        engine.dispose()
        drop()

    return engine, store, signer, close


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (verify checks half a long log in one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_verify(engine: Engine, store: FileStore, signer: Signer, n: int, reps: int) -> list[list[Any]]:
    reads = make_sessionmaker(engine, read_only=True)
    stored = custody_checkpoints.stored(store)

    def ours() -> Any:
        return unit_of_work.run(
            reads,
            lambda s: verify(
                s,
                verifier=signer.verifier,
                origin=signer.origin,
                stored=stored,
                stored_leaves=custody_checkpoints.stored_leaves(store),
                helper=custody_workers.helper_for(engine),
            ),
        )

    columns = "seq, item_id, case_id, kind, outcome, agent, tool, occurred_at, recorded_at, details, format"
    raw_sql = f"SELECT {columns}, prev_hash, hash FROM custody_events ORDER BY seq"

    def bare() -> int:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(raw_sql)
            count = 0
            while rows := cur.fetchmany(5000):
                count += len(rows)
            return count
        finally:
            raw.close()

    base_times, our_times, base_cpu, our_cpu = [], [], [], []
    for rep in range(reps):
        c0, t0 = _cpu(), time.perf_counter()
        read = bare()
        base_times.append(time.perf_counter() - t0)
        base_cpu.append(_cpu() - c0)
        c0, t0 = _cpu(), time.perf_counter()
        report = ours()
        our_times.append(time.perf_counter() - t0)
        our_cpu.append(_cpu() - c0)
        if not report.ok or report.checked != n or report.signed_size != n or read != n:
            raise SystemExit(f"verify of the bulk log failed: {report}")
        log(
            f"  rep {rep + 1}: verify {our_times[-1]:.2f} s ({our_cpu[-1]:.2f} s CPU), "
            f"bare read {base_times[-1]:.2f} s ({base_cpu[-1]:.2f} s CPU)"
        )
    rate, base_rate = n / statistics.median(our_times), n / statistics.median(base_times)
    # events per CPU-second of this process: what the machine gives when nothing else runs on it
    cpu_rate, base_cpu_rate = n / statistics.median(our_cpu), n / statistics.median(base_cpu)
    return [
        [
            f"{engine.dialect.name}: verify {n:,} events",
            f"{rate:,.0f} ev/s ({statistics.median(our_times):.2f} s)",
            f"bare read {base_rate:,.0f} ev/s (ratio {rate / base_rate:.2f})",
            f"{rate / VERIFY_TARGET:.2f}",
            f">= {VERIFY_TARGET:,.0f} ev/s",
            "PASS" if rate >= VERIFY_TARGET else "FAIL",
        ],
        [
            "  same, per CPU-second of the verifier and its child (info)",
            f"{cpu_rate:,.0f} ev/s",
            f"bare read {base_cpu_rate:,.0f} ev/s (ratio {cpu_rate / base_cpu_rate:.2f})",
            f"{cpu_rate / VERIFY_TARGET:.2f}",
            "-",
            "",
        ],
    ]


# ---------------------------------------------------------------------------- 3. proofs


def bench_proofs(engine: Engine, n: int, count: int) -> list[list[Any]]:
    rng = random.Random(11)
    indexes = [rng.randrange(n) for _ in range(count)]
    with make_sessionmaker(engine, read_only=True)() as session, session.begin():
        cp = custody_checkpoints.newest(session)
        assert cp is not None and cp.tree_size == n
        root = bytes.fromhex(cp.root_hash)
        tree = custody_tree.StoredTree(session)
        leaves = {i: bytes.fromhex(h) for i, h in _hashes(session, indexes)}

        def pk_read(i: int) -> Any:
            return session.execute(select(CustodyEvent.hash).where(CustodyEvent.seq == i + 1)).scalar_one()

        base_ms = _per_call_ms(pk_read, indexes)
        proofs: list[list[bytes]] = []
        ours_ms = _per_call_ms(lambda i: proofs.append(tree.inclusion_proof(i, n)), indexes)
        for i, proof in zip(indexes, proofs[-count:], strict=True):
            if not merkle.verify_inclusion(leaves[i], i, n, proof, root):
                raise SystemExit(f"the inclusion proof of leaf {i} does not verify")
        size = statistics.mean(len(p) for p in proofs[-count:])

        # the per-item path: an item's ~10 events, scattered over the log, proved together
        items = [sorted(rng.sample(range(1, n + 1), 10)) for _ in range(max(1, count // 10))]
        events = [list(session.scalars(select(CustodyEvent).where(CustodyEvent.seq.in_(seqs)))) for seqs in items]
        served: list[list[Any]] = []
        t0 = time.perf_counter()
        for evs in events:
            served.append(custody_checkpoints.proofs(session, evs, cp))
        item_ms = (time.perf_counter() - t0) * 1000 / sum(len(e) for e in events)
        for evs, got in zip(events, served, strict=True):
            for ev, p in zip(evs, got, strict=True):
                hashes = [bytes.fromhex(h) for h in p["hashes"]]
                if not merkle.verify_inclusion(bytes.fromhex(ev.hash), ev.seq - 1, n, hashes, root):
                    raise SystemExit(f"the served proof of event {ev.seq} does not verify")
    log(f"  inclusion_proof: {ours_ms:.3f} ms; per-item proofs: {item_ms:.3f} ms per event; pk read {base_ms:.3f} ms")
    name = engine.dialect.name
    return [
        [
            f"{name}: inclusion proof at {n:,} leaves ({size:.0f} hashes, {size * 32:.0f} B)",
            f"{ours_ms:.3f} ms",
            f"pk read {base_ms:.3f} ms (ratio {ours_ms / base_ms:.1f})",
            f"{ours_ms / PROOF_TARGET_MS:.2f}",
            f"<= {PROOF_TARGET_MS:g} ms",
            "PASS" if ours_ms <= PROOF_TARGET_MS else "FAIL",
        ],
        [
            f"{name}: per-item proofs (10 events an item), per event",
            f"{item_ms:.3f} ms",
            f"pk read {base_ms:.3f} ms (ratio {item_ms / base_ms:.1f})",
            f"{item_ms / PROOF_TARGET_MS:.2f}",
            f"<= {PROOF_TARGET_MS:g} ms",
            "PASS" if item_ms <= PROOF_TARGET_MS else "FAIL",
        ],
    ]


def _hashes(session: Session, indexes: list[int]) -> list[tuple[int, str]]:
    seqs = sorted({i + 1 for i in indexes})
    rows = session.execute(select(CustodyEvent.seq, CustodyEvent.hash).where(CustodyEvent.seq.in_(seqs)))
    return [(seq - 1, h) for seq, h in rows]


def _per_call_ms(fn: Callable[[int], Any], args: list[int]) -> float:
    """Median over 3 passes of the mean time per call (the first pass warms caches, untimed)."""
    for a in args[:50]:
        fn(a)
    passes = []
    for _ in range(3):
        t0 = time.perf_counter()
        for a in args:
            fn(a)
        passes.append((time.perf_counter() - t0) * 1000 / len(args))
    return statistics.median(passes)


# ---------------------------------------------------------------------------- 4. export


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args], check=True, timeout=600)


def export_inputs(folder: Path, clips: int, clip_mb: int) -> list[Path]:
    """One real ~``clip_mb`` MB H.264 clip, and ``clips`` valid copies differing in their title tag."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "base.mp4"
    if not base.exists():
        seconds = 20
        rate = f"{clip_mb * 8 // seconds}M"  # CBR with filler: the file has the size asked for
        _ffmpeg(
            *("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate, "-x264-params", "nal-hrd=cbr"),
            *("-c:a", "aac", "-shortest", str(base) + ".part.mp4"),
        )
        os.rename(str(base) + ".part.mp4", base)
    device = folder / "upload" / "BENCH01"
    device.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(clips):
        dst = device / f"BENCH01_{i:03d}.mp4"
        if not dst.exists():
            _ffmpeg("-i", str(base), "-map", "0", "-c", "copy", "-metadata", f"title=bench clip {i}", str(dst))
        files.append(dst)
    return files


def export_home(work: Path, clips: int, clip_mb: int) -> tuple[Any, str]:
    """The settings of a home holding a case of ``clips`` ingested clips (built once, kept) and its number."""
    from evidence import cases
    from evidence.models import Item
    from ingest.pipeline import ingest_file
    from ingest.runtime import open_runtime
    from storage_config.settings import load_settings

    folder = work / f"export-{clips}x{clip_mb}MB"
    home = folder / "home"
    settings = load_settings(
        home=home,
        database_url=f"sqlite:///{home / 'evidence.db'}",
        storage_url=f"file://{home / 'objects'}",
        upload_points=f"bench={folder / 'upload'}",
        station_id="bench",
        source_policy="keep",
        transcoding=False,
    )
    number = "BENCH-EXPORT-1"
    done = folder / "built"
    if done.exists():
        log(f"  reusing {home}")
        return settings, number
    shutil.rmtree(home, ignore_errors=True)
    t0 = time.monotonic()
    files = export_inputs(folder, clips, clip_mb)
    log(f"  made {len(files)} clips in {time.monotonic() - t0:.0f} s")
    rt = open_runtime(settings, "bench")
    try:
        t0 = time.monotonic()
        results = [ingest_file(rt, settings.points[0], p) for p in files]
        if any(r.outcome != "new" for r in results) or len({r.sha256 for r in results}) != clips:
            raise SystemExit(f"ingest gave {[r.as_dict() for r in results]}, not {clips} new distinct items")
        log(f"  ingested {clips} clips in {time.monotonic() - t0:.0f} s")

        def link_all(session: Session) -> None:
            case = cases.open_case(session, number, "export benchmark", "BENCH", "bench", rt.agent())
            for r in results:
                item = session.get(Item, r.item_id)
                assert item is not None
                cases.link(session, case, item, "export benchmark", "bench", rt.agent(), rules=settings.retention)

        unit_of_work.run(rt.sessions, link_all)
    finally:
        rt.close()
    for p in files:  # the home keeps the stored copies; the inputs are not needed again
        p.unlink()
    done.write_text(number)
    return settings, number


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_export(work: Path, gb: float, reps: int) -> list[list[Any]]:
    from evidence import export
    from ingest.runtime import open_runtime

    clip_mb = 100
    clips = max(1, round(gb * 1000 / clip_mb))
    log(f"4. export of a case of {clips} clips of ~{clip_mb} MB against cp -r of the same stored originals")
    settings, number = export_home(work, clips, clip_mb)
    originals = settings.home / "objects" / "originals"
    files = [p for p in originals.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    for p in files:  # warm: both sides read from the page cache
        with open(p, "rb") as f:
            while f.read(16 << 20):
                pass
    out = work / "export-out"
    rt = open_runtime(settings, "bench")
    runs: dict[str, list[float]] = {"export": [], "cp": [], "cp+sync": [], "export cpu": [], "cp cpu": []}

    def fresh() -> None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        os.sync()  # the previous run's dirty pages are not the next one's cost

    try:
        for rep in range(reps):
            fresh()
            c0, t0 = _children_cpu(), time.perf_counter()
            subprocess.run(["cp", "-r", str(originals), str(out / "cp")], check=True, timeout=600)
            runs["cp"].append(time.perf_counter() - t0)
            runs["cp cpu"].append(_children_cpu() - c0)
            os.sync()
            runs["cp+sync"].append(time.perf_counter() - t0)

            fresh()
            export_id = unit_of_work.run(
                rt.sessions,
                lambda s: export.request(s, export.case_by_number(s, number), "bench", rt.agent(), False).id,
            )
            c0, t0 = time.process_time(), time.perf_counter()
            result = export.run(
                rt.sessions, rt.ready_store(), rt.signer(), export_id, out / "bag", agent=rt.agent(), zone=settings.zone
            )
            runs["export"].append(time.perf_counter() - t0)
            runs["export cpu"].append(time.process_time() - c0)  # all its threads
            if result.bytes != total or result.files != clips:
                raise SystemExit(f"the export holds {result.files} files, {result.bytes} bytes: not {clips}, {total}")
            log(
                f"  rep {rep + 1}: export {runs['export'][-1]:.2f} s, cp -r {runs['cp'][-1]:.2f} s "
                f"(with sync {runs['cp+sync'][-1]:.2f} s); CPU: export {runs['export cpu'][-1]:.2f} s, "
                f"cp {runs['cp cpu'][-1]:.2f} s; load {os.getloadavg()[0]:.1f}"
            )
        import bagit

        bagit.Bag(str(out / "bag")).validate()  # the last package, payload hashed again by the bagit library
        log("  the last package validates with bagit (payload re-hashed)")
    finally:
        rt.close()
        shutil.rmtree(out, ignore_errors=True)
    ours, cp, cp_sync, ours_cpu, cp_cpu = (
        statistics.median(runs[k]) for k in ("export", "cp", "cp+sync", "export cpu", "cp cpu")
    )
    ratio = ours / cp
    return [
        [
            f"export of a {total / 1e9:.1f} GB case ({clips} clips, export.run)",
            f"{ours:.2f} s ({total / MB / ours:,.0f} MB/s)",
            f"cp -r {cp:.2f} s (ratio {ratio:.2f}x)",
            f"{ratio / EXPORT_TARGET:.2f}",
            f"<= {EXPORT_TARGET}x cp",
            "PASS" if ratio <= EXPORT_TARGET else "FAIL",
        ],
        [
            "  same against cp -r then sync (info)",
            f"{ours:.2f} s",
            f"cp -r + sync {cp_sync:.2f} s (ratio {ours / cp_sync:.2f}x)",
            "-",
            "-",
            "",
        ],
        [
            "  CPU seconds used (info; the export hashes every byte)",
            f"{ours_cpu:.2f} s",
            f"cp -r {cp_cpu:.2f} s (ratio {ours_cpu / cp_cpu:.2f}x)",
            "-",
            "-",
            "",
        ],
    ]


# ---------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000, help="events appended in all (default 4000)")
    parser.add_argument("--writers", type=int, default=4, help="writer processes (default 4)")
    parser.add_argument("--log", type=int, default=1_000_000, help="events in the verified log (default 1,000,000)")
    parser.add_argument("--proofs", type=int, default=1000, help="random leaves proved (default 1000)")
    parser.add_argument("--reps", type=int, default=3, help="verify runs, median (default 3)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql (skipped if unreachable)")
    parser.add_argument(
        "--sections", default="append,verify,proofs,export", help="which of append,verify,proofs,export to run"
    )
    parser.add_argument("--export-gb", type=float, default=2.0, help="size of the exported case (default 2 GB)")
    parser.add_argument("--export-reps", type=int, default=3, help="export and cp runs, median (default 3)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "evidence-bench-custody")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {platform.python_version()}; {platform.platform()}")
    load = os.getloadavg()[0]
    log(f"load average before: {load:.2f} (1 min)" + ("  -- WARNING: numbers will be noisy" if load > 0.5 else ""))
    backends = args.backends.split(",")
    if "postgresql" in backends and (why := pg_reachable()):
        log(f"PostgreSQL skipped: not reachable at {PG_ADMIN} ({why})")
        backends.remove("postgresql")
    sections = set(args.sections.split(","))
    rows: list[list[Any]] = []
    for backend in backends:
        if "append" in sections:
            rows += bench_append(backend, args.work, args.writers, args.events)
        if sections & {"verify", "proofs"}:
            log(f"{backend}: 2-3. a log of {args.log:,} events")
            engine, store, signer, close = large_log(backend, args.work, args.log)
            try:
                if "verify" in sections:
                    rows += bench_verify(engine, store, signer, args.log, args.reps)
                if "proofs" in sections:
                    rows += bench_proofs(engine, args.log, args.proofs)
            finally:
                close()
    if "export" in sections:
        rows += bench_export(args.work, args.export_gb, args.export_reps)
    log("")
    return print_results(["measurement", "ours", "baseline", "ratio to target", "target", "result"], rows)


if __name__ == "__main__":
    sys.exit(main())
