"""Any part of the daemon that fails is reported with its text and restarted with backoff.

The failures are injected into the daemon's own functions (the supervision is what is under test);
the database, store and files are real.
"""

from __future__ import annotations

import threading
import time

import pytest

from evidence.retries import Backoff
from ingest import daemon as daemon_module
from ingest.daemon import Daemon, Health, Part, Restarts
from tests.ingest.test_daemon import items, wait_for
from tests.media import drop

QUICK = Restarts(backoff=Backoff("test restart", first_s=0.1, cap_s=0.4), give_up_after=3, healthy_after=2.0)


class Flaky:
    """Raises ``error`` the first ``times`` calls, then behaves like ``real``."""

    def __init__(self, real, times: int, error: Exception):
        self.real, self.left, self.error, self.calls = real, times, error, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise self.error
        return self.real(*args, **kwargs)


def start(settings, restarts=QUICK, **faults):
    """A daemon with ``faults`` (attribute name: callable) put in place before it runs."""
    daemon = Daemon(settings, restarts=restarts)
    for name, fault in faults.items():
        setattr(daemon, name, fault)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    wait_for(lambda: daemon.rt is not None or not thread.is_alive())  # connected and migrated
    return daemon, thread


def finish(daemon, thread):
    daemon.stop.set()
    thread.join(60)
    assert not thread.is_alive()


def test_the_ingest_loop_is_restarted_with_its_error_reported(make_settings, clips):
    settings = make_settings()
    src = drop(clips["h264"], settings.points[0].path, "ZFY0001/after-the-crash.mp4")
    daemon = Daemon(settings, restarts=QUICK)
    daemon._rescan = Flaky(daemon._rescan, 2, RuntimeError("scanner tripped over something"))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: daemon.health.parts.get("ingest") and daemon.health.parts["ingest"].restarts == 2)
        report = daemon.health.as_dict()
        assert report["last_error"] == "ingest: scanner tripped over something"
        assert report["degraded"] and report["parts"]["ingest"]["failures"] == 2
        wait_for(lambda: not src.exists(), timeout=60)  # restarted, it works again
        wait_for(lambda: not daemon.health.degraded(), timeout=10)  # and after a healthy while, it is ok
    finally:
        finish(daemon, thread)
    assert [i.original_filename for i in items(settings)] == ["after-the-crash.mp4"]


def test_the_worker_thread_is_restarted(make_settings, clips, monkeypatch):
    settings = make_settings()
    drop(clips["h264"], settings.points[0].path, "ZFY0001/needs-a-proxy.mp4")
    flaky = Flaky(daemon_module.worker.drain, 1, KeyError("job handler bug"))
    monkeypatch.setattr(daemon_module.worker, "drain", flaky)
    daemon, thread = start(settings)
    try:
        wait_for(lambda: [i.status for i in items(settings)] == ["ready"], timeout=90)
        assert daemon.health.parts["worker"].restarts == 1
        assert daemon.health.parts["worker"].last_error == "worker: 'job handler bug'"
    finally:
        finish(daemon, thread)


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_a_dead_file_watcher_thread_is_noticed_and_restarted(make_settings, clips, monkeypatch, polling):
    settings = make_settings(rescan_seconds=3600, polling=polling)  # only events bring files in after start
    handle = daemon_module._Events.on_any_event
    crashed = []

    def crash_once(self, event):
        if not crashed:
            crashed.append(event)
            raise OSError(40, "Too many levels of symbolic links")
        handle(self, event)

    monkeypatch.setattr(daemon_module._Events, "on_any_event", crash_once)
    daemon, thread = start(settings)
    upload = settings.points[0].path
    try:
        wait_for(lambda: daemon.health.last_scan_at is not None and "watcher" in daemon.health.parts)
        first = drop(clips["h264"], upload, "ZFY0001/kills-the-watcher.mp4")
        wait_for(lambda: daemon.health.parts["watcher"].restarts == 1)
        assert "Too many levels of symbolic links" in daemon.health.parts["watcher"].last_error
        assert daemon.health.as_dict()["degraded"]
        wait_for(lambda: daemon.health.parts["watcher"].state == "running")
        time.sleep(0.5)  # the new observer has set its watches
        second = drop(clips["mjpeg"], upload, "ZFY0002/ZFY0002_20261101_090000.avi")
        wait_for(lambda: not second.exists(), timeout=30)
        assert first.exists(), "the event lost in the crash waits for the next rescan"
    finally:
        finish(daemon, thread)


def test_a_part_that_keeps_failing_makes_the_daemon_give_up(make_settings):
    settings = make_settings()
    daemon, thread = start(settings, _ingest=Flaky(None, 99, RuntimeError("always broken")))
    thread.join(60)
    assert not thread.is_alive() and daemon.stop.is_set()
    assert daemon.health.failure == "ingest failed 3 times in a row: always broken"
    assert daemon.health.parts["ingest"].state == "failed"
    assert daemon.health.as_dict()["degraded"]
    assert {daemon.health.parts[p].state for p in ("worker", "watcher")} == {"stopped"}


def test_outages_do_not_count_towards_giving_up(make_settings):
    from evidence.errors import DatabaseUnavailable

    settings = make_settings()
    flaky = Flaky(None, 5, DatabaseUnavailable("database unavailable: connection refused"))
    daemon, thread = start(settings, _ingest=lambda rt: flaky() if flaky.left else daemon.stop.wait())
    try:
        wait_for(lambda: flaky.calls == 5 and daemon.health.parts["ingest"].state == "running")
        assert daemon.health.failure is None and daemon.health.parts["ingest"].failures == 0
        assert daemon.health.parts["ingest"].restarts == 5
    finally:
        finish(daemon, thread)


def test_health_text_is_always_valid_utf8():
    health = Health()
    name = b"ZFY0001/\xff.mp4".decode("utf-8", "surrogateescape")
    health.last_error = f"{name}: cannot read"
    health.parts["ingest"] = Part(last_error=f"ingest: {name} \ud800")
    report = health.as_dict()
    assert report["last_error"] == "ZFY0001/\\xff.mp4: cannot read"
    report["parts"]["ingest"]["last_error"].encode("utf-8")


def test_a_start_up_that_needed_a_retry_is_not_held_against_the_running_daemon(make_settings):
    settings = make_settings()
    daemon = Daemon(
        settings, restarts=Restarts(backoff=Backoff("test restart", first_s=0.1, cap_s=60.0), healthy_after=300)
    )
    daemon._start = Flaky(daemon._start, 1, PermissionError(13, "Permission denied", "/srv/dock1"))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: {"ingest", "worker", "watcher"} <= set(daemon.health.parts))
        time.sleep(0.5)
        assert daemon.health.parts["start"].state == "done" and daemon.health.parts["start"].restarts == 1
        assert not daemon.health.degraded()
        assert daemon.health.last_error == "start: [Errno 13] Permission denied: '/srv/dock1'"
    finally:
        finish(daemon, thread)
