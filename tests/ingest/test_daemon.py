"""The daemon: settling, rescans, outages, and SIGKILL at any instant."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evidence import custody_verify
from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.models import CustodyEvent, Item, Job, Receipt
from evidence.unit_of_work import transaction
from ingest.daemon import Daemon
from tests.media import drop
from tests.servers import MotoServer, free_port


@contextlib.contextmanager
def running(settings, **roles):
    stop = threading.Event()
    daemon = Daemon(settings, stop, **roles)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: daemon.rt is not None or not thread.is_alive())  # connected and migrated
        yield daemon
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive()


def wait_for(predicate, timeout=60.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def db(settings):
    engine = make_engine(settings.database_url)
    return engine, make_sessionmaker(engine)


def count(settings, model, *where):
    engine, sessions = db(settings)
    try:
        with transaction(sessions) as session:
            return session.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        engine.dispose()


def items(settings):
    engine, sessions = db(settings)
    try:
        with transaction(sessions) as session:
            return list(session.scalars(select(Item).order_by(Item.id)))
    finally:
        engine.dispose()


def test_files_dropped_while_down_are_found_at_start_and_ready(make_settings, clips):
    settings = make_settings()
    upload = settings.points[0].path
    drop(clips["h264"], upload, "ZFY0001/before-start.mp4")
    drop(clips["mjpeg"], upload, "ZFY0002/deep/folder/ZFY0002_20261101_090000.avi")
    drop(clips["h264"], upload, ".hidden.mp4")
    drop(clips["mjpeg"], upload, "ZFY0001/copying.mp4.part")
    with running(settings):
        wait_for(lambda: [i.status for i in items(settings)] == ["ready", "ready"])
        time.sleep(1.5)  # a rescan passes: ignored files stay ignored
    assert count(settings, Item) == 2
    assert (upload / ".hidden.mp4").exists() and (upload / "ZFY0001" / "copying.mp4.part").exists()
    devices = sorted(i.device_serial for i in items(settings))
    assert devices == ["ZFY0001", "ZFY0002"]


def test_a_growing_file_is_taken_only_when_complete(make_settings, clips):
    settings = make_settings(settle_seconds=1.0)
    upload = settings.points[0].path
    upload.mkdir(parents=True, exist_ok=True)
    target = upload / "ZFY0001" / "growing.mp4"
    target.parent.mkdir(parents=True)
    content = clips["h264"].read_bytes()
    pieces = [content[i : i + 20_000] for i in range(0, len(content), 20_000)]
    with running(settings):
        with open(target, "wb") as out:
            for n, piece in enumerate(pieces):
                out.write(piece)
                out.flush()
                # one stall longer than the settle window, with the file still open
                time.sleep(2.5 if n == 2 else 0.3)
                assert count(settings, Item) == 0, "taken while still being written"
        wait_for(lambda: count(settings, Item) == 1)
    (item,) = items(settings)
    assert item.sha256 == hashlib.sha256(content).hexdigest()
    assert item.size_bytes == len(content)


def test_store_outage_loses_nothing_and_catches_up(make_settings, clips):
    port = free_port()
    settings = make_settings(storage_url=f"s3://k:s@127.0.0.1:{port}/evidence?secure=false&region=us-east-1")
    upload = settings.points[0].path
    src = drop(clips["h264"], upload, "ZFY0001/outage.mp4")
    received_before = src.stat().st_ctime
    server = MotoServer(port)
    with running(settings) as daemon:
        wait_for(lambda: daemon.health.last_error and "outage.mp4" in daemon.health.last_error)
        assert src.exists() and count(settings, Item) == 0
        server.start()
        try:
            wait_for(lambda: [i.status for i in items(settings)] == ["ready"], timeout=90)
        finally:
            server.stop()
    assert not src.exists()
    (item,) = items(settings)
    # received_at is the arrival on the station's disk, not the end of the outage
    assert abs(item.received_at.timestamp() - received_before) < 0.01


def _variants(clips, n: int, root: Path) -> list[Path]:
    """n distinct, playable files (a trailing tag after the MP4 boxes changes the hash only)."""
    root.mkdir(parents=True, exist_ok=True)
    data = clips["h264"].read_bytes()
    out = []
    for i in range(n):
        path = root / f"v{i}.mp4"
        path.write_bytes(data + f"variant-{i}".encode())
        out.append(path)
    return out


def _up(processes, settings_env: dict, log: Path) -> subprocess.Popen:
    """`evidence up --no-api`, returned once it is under way (a loaded machine takes seconds to start it)."""
    with open(log, "wb") as sink:
        proc = processes(
            [sys.executable, "-c", "from cli.main import main; main()", "up", "--no-api"],
            env=settings_env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    wait_for(lambda: "watching upload point" in log.read_text(errors="replace") or proc.poll() is not None)
    return proc


@pytest.mark.slow
def test_sigkill_at_any_instant_then_restart_ingests_each_file_exactly_once(make_settings, clips, tmp_path, processes):
    settings = make_settings()
    home = settings.home
    env = {
        **os.environ,
        "EVIDENCE_HOME": str(home),
        "EVIDENCE_SETTLE_SECONDS": "0.2",
        "EVIDENCE_RESCAN_SECONDS": "1",
        "EVIDENCE_STATION_ID": "ST01",
        "EVIDENCE_LOG_LEVEL": "WARNING",
    }
    upload = settings.points[0].path
    files = _variants(clips, 12, tmp_path / "variants")
    for n, f in enumerate(files):
        drop(f, upload, f"ZFY{n % 3:04d}/{f.name}")
    rng = random.Random(7)
    interrupted = 0
    for _ in range(5):
        proc = _up(processes, env, tmp_path / "up.log")
        time.sleep(rng.uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if home.joinpath("evidence.db").exists():
            unfinished = count(settings, Job, Job.state.in_(["queued", "running"]))
            interrupted += unfinished > 0 or count(settings, Item) < len(files)
    assert interrupted, "no kill landed while work was in progress"
    proc = _up(processes, env, tmp_path / "up.log")
    try:
        wait_for(
            lambda: (
                count(settings, Item) == len(files)
                and count(settings, Job, Job.state.in_(["queued", "running"])) == 0
                and not any(p.is_file() for p in upload.glob("ZFY*/*"))
            ),
            timeout=180,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    expected = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    found = items(settings)
    assert {i.sha256 for i in found} == expected
    assert all(i.status == "ready" for i in found)
    assert count(settings, Receipt) == len(files), "each file taken exactly once"
    assert count(settings, Receipt, Receipt.source_released_at.is_(None)) == 0
    assert count(settings, CustodyEvent, CustodyEvent.kind == "received") == len(files)
    assert count(settings, CustodyEvent, CustodyEvent.kind == "proxy_made") == len(files)
    assert count(settings, CustodyEvent, CustodyEvent.kind == "duplicate_received") == 0
    engine, sessions = db(settings)
    try:
        with transaction(sessions) as session:
            report = custody_verify.verify(session)
            # each start signed the log as it found it (kills left the rest for the next start to sign)
            assert report.ok and report.checkpoints >= 2 and 0 < report.signed_size <= report.size
    finally:
        engine.dispose()
    archived = sorted(p.name for p in (upload / "_archive").rglob("*.mp4"))
    assert archived == sorted(f.name for f in files)


def test_database_outage_loses_nothing_and_catches_up(make_settings, clips, pg_url):
    from urllib.parse import urlsplit

    from tests.servers import TcpForwarder

    real = urlsplit(pg_url)
    relay = TcpForwarder((real.hostname, real.port or 5432))
    settings = make_settings(database_url=pg_url.replace(f"{real.hostname}:{real.port}", f"127.0.0.1:{relay.port}"))
    upload = settings.points[0].path
    first = drop(clips["h264"], upload, "ZFY0001/during-db-outage.mp4")
    stop = threading.Event()
    daemon = Daemon(settings, stop)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        time.sleep(3)  # the database is not there at start: the daemon waits, deleting nothing
        assert thread.is_alive() and not daemon.health.database_ok and first.exists()
        relay.start()
        wait_for(lambda: not first.exists(), timeout=60)
        relay.stop()  # down again, mid-run
        second = drop(clips["mjpeg"], upload, "ZFY0002/ZFY0002_20261101_100000.avi")
        time.sleep(4)
        assert second.exists() and thread.is_alive()
        relay.start()
        wait_for(lambda: not second.exists(), timeout=90)
        wait_for(lambda: [i.status for i in items(settings)] == ["ready", "ready"], timeout=90)
    finally:
        stop.set()
        thread.join(timeout=60)
        relay.stop()


def test_a_deleted_source_whose_release_record_an_outage_cut_short_is_recorded_without_a_restart(
    make_settings, clips, pg_url, monkeypatch
):
    """Under the delete policy the source cannot be put back to be tried again (as a moved one is):
    the station's next rescan records its release, not only its next start."""
    from urllib.parse import urlsplit

    from evidence import intake
    from tests.servers import TcpForwarder

    port = urlsplit(pg_url).port
    relay = TcpForwarder(("127.0.0.1", port)).start()
    settings = make_settings(database_url=pg_url.replace(f":{port}/", f":{relay.port}/"), source_policy="delete")
    real_record = intake.record_release
    cut = threading.Event()

    def outage_after_the_deletion(session, receipt, disposition, agent):
        if not cut.is_set():
            cut.set()
            relay.stop()  # the database goes away between the deletion and its record
        return real_record(session, receipt, disposition, agent)

    monkeypatch.setattr(intake, "record_release", outage_after_the_deletion)
    src = drop(clips["h264"], settings.points[0].path, "ZFY0001/deleted.mp4")
    try:
        with running(settings) as daemon:
            wait_for(cut.is_set, timeout=60)
            wait_for(lambda: src in daemon.failures, timeout=60)  # its ingest failed on the record
            assert not src.exists()
            relay.start()
            wait_for(lambda: count(settings, Receipt, Receipt.source_released_at.is_not(None)) == 1, timeout=60)
            assert daemon.health.failure is None
            assert src not in daemon.failures  # gone: no longer tried again, nor listed as failing
        engine, sessions = db(settings)
        try:
            with transaction(sessions) as session:
                (receipt,) = session.scalars(select(Receipt))
                assert receipt.source_disposition.startswith("source already gone")
                released = session.scalars(select(CustodyEvent).where(CustodyEvent.kind == "source_released")).all()
                assert len(released) == 1 and released[0].item_id == receipt.item_id
                assert custody_verify.verify(session).ok
        finally:
            engine.dispose()
    finally:
        relay.stop()


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_file_events_alone_bring_new_files_in(make_settings, clips, polling):
    settings = make_settings(rescan_seconds=3600, polling=polling)  # only the start-up scan
    upload = settings.points[0].path
    with running(settings) as daemon:
        wait_for(lambda: daemon.health.last_scan_at is not None)
        time.sleep(0.5)
        src = drop(clips["h264"], upload, "ZFY0001/while-running.mp4")
        wait_for(lambda: not src.exists(), timeout=30)
    assert [i.original_filename for i in items(settings)] == ["while-running.mp4"]


def test_stale_incoming_objects_from_a_crash_are_swept(make_settings):
    import io

    from ingest.runtime import open_runtime

    settings = make_settings()
    rt = open_runtime(settings, "test")
    try:
        store = rt.ready_store()
        store.write("incoming/old", io.BytesIO(b"half"), 4)
        store.write("incoming/fresh", io.BytesIO(b"busy"), 4)
        old = time.time() - 7 * 3600
        os.utime(store.root / "incoming/old", (old, old))
        Daemon(settings)._sweep_incoming(rt)
        assert store.size("incoming/old") is None and store.size("incoming/fresh") == 4
    finally:
        rt.close()


def test_the_watchers_harmless_overwrite_warning_stays_off_the_console(make_settings):
    """watchdog warns when it re-adds a watch for a folder that appeared during a recursive add (the
    archive, then a recorder's folder in it; a race, so it is raised here the way watchdog words it).
    Under this suite's warnings-as-errors it would end the watcher's thread; at a station, clutter."""
    import warnings

    settings = make_settings()
    for point in settings.points:
        point.path.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(settings, threading.Event())
    observer = daemon._observer({})
    try:
        overwritten = "Callback with id '1' already exists for watch <Watch>. It will be Overwritten."
        warnings.warn(overwritten, RuntimeWarning, stacklevel=1)
        with pytest.raises(RuntimeWarning):  # only that one
            warnings.warn("something else", RuntimeWarning, stacklevel=1)
    finally:
        observer.stop()
        observer.join(timeout=5)
