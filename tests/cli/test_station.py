"""`evidence station` as an operator runs it: it ingests, and leaves the jobs to a worker elsewhere."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest
from sqlalchemy import select

from evidence.custody import EventKind
from evidence.models import CustodyEvent, Item, ItemStatus, Job
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.runtime import open_runtime
from tests.cli.test_up import EVIDENCE, environment, wait_for_text
from tests.media import drop
from tests.settings import settings_for

pytestmark = pytest.mark.slow  # a real station process


@pytest.fixture(params=["embedded", "postgresql+s3"])
def urls(request) -> dict[str, str]:
    if request.param == "embedded":
        return {}
    return {"database_url": request.getfixturevalue("pg_url"), "storage_url": request.getfixturevalue("moto").url()}


def wait_for(predicate, proc: subprocess.Popen, log, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert proc.poll() is None, f"the station exited {proc.returncode}:\n{log.read_text(errors='replace')}"
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s:\n{log.read_text(errors='replace')}")


def test_station_ingests_and_leaves_the_jobs_to_a_worker(tmp_path, processes, clips, urls):
    env = environment(tmp_path, **{f"EVIDENCE_{k.upper()}": v for k, v in urls.items()})
    s = settings_for(tmp_path / "home", settle_seconds=0.2, **urls)
    log = tmp_path / "station.log"
    with open(log, "wb") as sink:
        proc = processes([EVIDENCE, "station"], env=env, stdout=subprocess.DEVNULL, stderr=sink)
    said = wait_for_text(log, "station running", proc)
    assert f"watching upload point {s.points[0].path} (station ST01)" in said.splitlines()
    rt = open_runtime(s, "test-worker")  # the worker "elsewhere": this test process
    try:

        def stored() -> Item | None:
            with transaction(rt.sessions) as session:
                return session.scalars(select(Item)).first()

        drop(clips["h264"], s.points[0].path, "ZFY0001/clip.mp4")
        item = wait_for(stored, proc, log)
        archived = s.points[0].path / s.archive_dirname / "ZFY0001" / "clip.mp4"
        wait_for(archived.exists, proc, log)  # released only after it was verified in the store
        assert not (s.points[0].path / "ZFY0001" / "clip.mp4").exists()
        time.sleep(3)  # long enough for `up`'s worker to have probed and proxied it
        with transaction(rt.sessions) as session:
            item = session.get_one(Item, item.id)
            assert item.status == ItemStatus.STORED.value and item.proxy_key is None and item.poster_key is None
            kinds = set(session.scalars(select(CustodyEvent.kind).where(CustodyEvent.item_id == item.id)))
            assert {EventKind.RECEIVED, EventKind.HASHED, EventKind.STORED, EventKind.VERIFIED} <= kinds
            assert EventKind.SOURCE_RELEASED in kinds and EventKind.PROXY_MADE not in kinds
            jobs = {job.kind: job.state for job in session.scalars(select(Job))}
            assert jobs and set(jobs.values()) == {"queued"}, jobs  # nobody took them
        store = rt.ready_store()
        assert store.size(item.object_key) == item.size_bytes == clips["h264"].stat().st_size

        assert worker.drain(rt) >= 2  # a worker drains them: probe, proxy, poster
        with transaction(rt.sessions) as session:
            item = session.get_one(Item, item.id)
            assert item.status == ItemStatus.READY.value and item.proxy_key and item.poster_key
            assert set(session.scalars(select(Job.state))) == {"done"}
        assert item.proxy_key and store.size(item.proxy_key)
    finally:
        rt.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert "stopping…" in log.read_text()


@pytest.mark.parametrize(
    ("options", "parts"),
    [
        ({}, {"start", "watcher", "checkpoints", "worker", "retention", "fixity", "ingest"}),  # `evidence up`
        ({"jobs": False}, {"start", "watcher", "checkpoints", "retention", "fixity", "ingest"}),  # a station
        ({"jobs": False, "maintenance": False}, {"start", "watcher", "checkpoints", "ingest"}),  # --no-maintenance
    ],
)
def test_the_parts_each_role_runs(tmp_path, options, parts):
    from ingest.daemon import Daemon

    stop = threading.Event()
    daemon = Daemon(settings_for(tmp_path / "home"), stop, **options)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while set(daemon.health.parts) != parts and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # no other part comes later
        assert set(daemon.health.parts) == parts
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and daemon.health.failure is None
