"""A worker pool sweeps the store's staging folder of a crash's leftovers at start and periodically."""

from __future__ import annotations

import os
import threading
import time

import pytest

from evidence.jobs import JobKind
from ingest import staging, worker
from ingest.runtime import open_runtime


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def leftover(folder, name: str, age_s: float):
    path = folder / name
    path.write_bytes(b"x")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


@pytest.mark.parametrize("store", ["file", "s3"])
def test_old_leftovers_go_at_start_and_later_and_fresh_files_stay(make_settings, request, store):
    extra = {"storage_url": request.getfixturevalue("moto").url()} if store == "s3" else {}
    # leftovers are files older than three tool timeouts: here 3 x 10 s
    settings = make_settings(tool_timeout_seconds=10, probe_timeout_seconds=5, **extra)
    assert staging.max_age_s(settings) == 30
    rt = open_runtime(settings, "test")
    stop = threading.Event()
    try:
        folder = rt.ready_store().staging_dir()
        crashed = leftover(folder, "0123abcd.get", age_s=3600)  # a dead worker's download
        output = leftover(folder, "proxy-7-1.mp4", age_s=31)  # a dead worker's proxy, never uploaded
        working = leftover(folder, "proxy-8-1.mp4", age_s=20)  # a live job's output
        pool = worker.Pool(rt, stop, concurrency=1, kinds=[JobKind.EXPORT], idle_s=0.1, sweep_every_s=0.2).start()
        assert wait_for(lambda: not crashed.exists() and not output.exists())
        later = leftover(folder, "clip-9-1.mp4", age_s=600)  # left after the pool started: the next sweep
        assert wait_for(lambda: not later.exists())
        assert working.exists()
        stop.set()
        assert pool.join(10) == []
        assert not pool.sweeper.thread.is_alive()
    finally:
        stop.set()
        rt.close()


def test_a_crashed_export_folder_goes_only_once_nothing_inside_it_is_recent(tmp_path):
    from evidence.objectstore import sweep_folder

    def package(name: str, fresh_inside: bool):
        bag = tmp_path / name
        (bag / "data" / "originals").mkdir(parents=True)
        leftover(bag / "data" / "originals", "a.mp4", 0 if fresh_inside else 100)
        leftover(bag, "bag-info.txt", 100)
        for folder in (bag / "data" / "originals", bag / "data", bag):
            os.utime(folder, (time.time() - 100, time.time() - 100))
        return bag

    dead = package(".export-1-aaaa.partial", fresh_inside=False)
    busy = package(".export-2-bbbb.partial", fresh_inside=True)  # still being written: a payload file grows
    assert sweep_folder(tmp_path, 30) == 1
    assert not dead.exists() and (busy / "data" / "originals" / "a.mp4").exists()


def test_the_all_in_one_daemon_sweeps_staging_as_a_worker_pool_does(make_settings):
    from tests.ingest.test_daemon import running

    settings = make_settings(tool_timeout_seconds=10, probe_timeout_seconds=5)
    rt = open_runtime(settings, "test")
    try:
        staged = rt.store.staging_dir()
        staged.mkdir(parents=True, exist_ok=True)
        # younger than the start-up recovery's six hours: only the sweeper's 3 x 10 s makes it a leftover
        old, fresh = leftover(staged, "killed-ffmpeg.mp4", 100), leftover(staged, "in-use.mp4", 1)
    finally:
        rt.close()
    with running(settings):
        assert wait_for(lambda: not old.exists())
        assert fresh.exists()
