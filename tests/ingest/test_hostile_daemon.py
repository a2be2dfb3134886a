"""A burst of ordinary clips mixed with links, loops, litter, a FIFO, unreadable and unmovable files
and odd names, through the real daemon on SQLite and PostgreSQL: every clip is ingested exactly once,
everything else is left alone and listed with its reason, and the daemon stays healthy."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import threading
import time

import pytest

from evidence import skipped
from evidence.models import Receipt
from evidence.unit_of_work import transaction
from ingest.daemon import Daemon
from tests.ingest.test_daemon import count, db, items, wait_for
from tests.media import drop
from tests.privileges import drop_permission_override

ODD_NAMES = [
    os.fsdecode(b"ZFY0002/\xff\xfe.mp4"),
    "ZFY0002/a\nINFO new ZFY0009 forged.mp4",
    "ZFY0003/\x1b]0;owned\x07\x1b[2Jred.mp4",
]
LINKS = ["ZFY0001/link.mp4", "ZFY0005", "ZFY0002/loop", "ZFY0003/up"]
LITTER = [
    "ZFY0001/Thumbs.db",
    "ZFY0001/desktop.ini",
    "ZFY0002/~$report.docx",
    "$RECYCLE.BIN",
    "System Volume Information",
    ".Trashes",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, make_settings):
    extra = {} if request.param == "sqlite" else {"database_url": request.getfixturevalue("pg_url")}
    return make_settings(**extra)


@contextlib.contextmanager
def running(settings):
    """The daemon in a thread that obeys file permissions (the tests run as root, who would not)."""
    stop = threading.Event()
    daemon = Daemon(settings, stop)

    def run():
        drop_permission_override()
        daemon.run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: daemon.rt is not None or not thread.is_alive())
        yield daemon, thread
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive()


def listing(settings) -> dict[str, dict]:
    engine, sessions = db(settings)
    try:
        with transaction(sessions) as session:
            return {row["path"]: row for row in skipped.listing(session)}
    finally:
        engine.dispose()


def test_a_hostile_burst(settings, clips, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    upload = settings.points[0].path
    base = clips["h264"].read_bytes()
    expected = {}

    def clip(rel: str, tag: str):
        path = upload / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base + tag.encode())
        return path

    for n in range(8):
        expected[f"ZFY000{n % 4 + 1}/clip{n}.mp4"] = clip(f"ZFY000{n % 4 + 1}/clip{n}.mp4", f"ordinary {n}")
    for n, rel in enumerate(ODD_NAMES):
        expected[rel] = clip(rel, f"odd {n}")
    stuck = expected["ZFY0003/stuck.mp4"] = clip("ZFY0003/stuck.mp4", "stuck")
    locked = clip("ZFY0004/locked.mp4", "locked")
    locked.chmod(0)
    shut = clip("ZFY0006/behind-a-shut-folder.mp4", "shut").parent
    shut.chmod(0)
    never = {clip("$RECYCLE.BIN/S-1-5/deleted.mp4", "recycled").read_bytes()}
    outside = drop(clips["h264"], tmp_path / "outside", "secret.mp4")
    never.add(outside.read_bytes())
    (upload / "ZFY0001" / "link.mp4").symlink_to(outside)
    (upload / "ZFY0005").symlink_to(outside.parent)
    (upload / "ZFY0002" / "loop").symlink_to(upload / "ZFY0002" / "loop")
    (upload / "ZFY0003" / "up").symlink_to(upload)
    for rel in [
        "ZFY0001/Thumbs.db",
        "ZFY0001/desktop.ini",
        "ZFY0002/~$report.docx",
        "System Volume Information/IndexerVolumeGuid",
        ".Trashes/501/x",
    ]:
        (upload / rel).parent.mkdir(parents=True, exist_ok=True)
        (upload / rel).write_bytes(b"litter")
    os.mkfifo(upload / "ZFY0004" / "pipe.mp4")
    want = {hashlib.sha256(p.read_bytes()).hexdigest() for p in expected.values()}

    subprocess.run(["chattr", "+i", os.fspath(stuck)], check=True)
    try:
        with running(settings) as (daemon, thread):
            wait_for(
                lambda: (
                    len(items(settings)) == len(expected)
                    and {"ZFY0004/locked.mp4", "ZFY0003/stuck.mp4"} <= set(listing(settings))
                ),
                timeout=120,
            )
            time.sleep(2.5)  # more rescans and retries pass
            assert thread.is_alive() and daemon.health.database_ok
            assert {i.sha256 for i in items(settings)} == want
            assert count(settings, Receipt) == len(expected)  # each exactly once
            shown = listing(settings)
            kinds = {path: row["kind"] for path, row in shown.items()}
            for rel in LINKS:
                assert kinds[rel] == "link", rel
            for rel in LITTER:
                assert kinds[rel] == "ignored", rel
            assert kinds["ZFY0004/pipe.mp4"] == "special" and "FIFO" in shown["ZFY0004/pipe.mp4"]["reason"]
            assert kinds["ZFY0004/locked.mp4"] == "unreadable"
            assert kinds["ZFY0006"] == "unreadable" and "cannot be listed" in shown["ZFY0006"]["reason"]
            assert kinds["ZFY0003/stuck.mp4"] == "unreleased"
            assert daemon.health.skipped == len(shown)
            json.dumps(daemon.health.as_dict(), ensure_ascii=False).encode("utf-8")  # /healthz can say it
            assert stuck.exists() and locked.exists()

            locked.chmod(0o644)
            shut.chmod(0o755)
            subprocess.run(["chattr", "-i", os.fspath(stuck)], check=True)
            wait_for(
                lambda: (
                    len(items(settings)) == len(expected) + 2
                    and not stuck.exists()
                    and not {"ZFY0004/locked.mp4", "ZFY0003/stuck.mp4", "ZFY0006"} & set(listing(settings))
                ),
                timeout=120,
            )
    finally:
        if stuck.exists():
            subprocess.run(["chattr", "-i", os.fspath(stuck)], check=False)

    assert outside.read_bytes() == clips["h264"].read_bytes()  # the outside file is untouched ...
    got = {i.sha256 for i in items(settings)}
    assert not {hashlib.sha256(b).hexdigest() for b in never} & got  # ... and it, like litter, is not evidence
    for rel in LINKS:
        assert (upload / rel).is_symlink()
    for rel in ["ZFY0001/Thumbs.db", "ZFY0002/~$report.docx", "$RECYCLE.BIN/S-1-5/deleted.mp4"]:
        assert (upload / rel).exists()  # litter is never deleted
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "\n" in m or "\x1b" in m or "\x07" in m]
    for rel in LINKS + LITTER:
        assert sum(1 for m in messages if m.startswith("skipped ") and m.split(": ")[0].endswith(rel)) == 1, rel

    # a restart with the links and loops still there: up, healthy, nothing taken twice, nothing logged again
    caplog.clear()
    with running(settings) as (daemon, thread):
        wait_for(lambda: daemon.health.last_scan_at is not None)
        time.sleep(1.5)
        assert thread.is_alive() and daemon.health.last_error is None
    assert len(items(settings)) == len(expected) + 2
    assert not [r for r in caplog.records if r.getMessage().startswith("skipped ")]


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_link_loops_do_not_stall_file_events(make_settings, clips, polling):
    settings = make_settings(rescan_seconds=3600, polling=polling)  # events alone, after the start-up scan
    folder = settings.points[0].path / "ZFY0001"
    folder.mkdir(parents=True)
    for name in "abc":  # three links back: a walk that follows them has 3**40 paths to visit
        (folder / name).symlink_to(folder)
    with running(settings) as (daemon, thread):
        wait_for(lambda: daemon.health.last_scan_at is not None)
        time.sleep(0.5)
        src = drop(clips["h264"], settings.points[0].path, "ZFY0001/while-running.mp4")
        wait_for(lambda: not src.exists(), timeout=30)
        assert thread.is_alive()
    assert [i.original_filename for i in items(settings)] == ["while-running.mp4"]


def test_a_start_with_an_unmovable_source_waiting_for_release(settings, clips):
    from evidence.errors import SourceNotReleased
    from ingest.pipeline import ingest_file
    from ingest.runtime import open_runtime
    from tests.privileges import immutable

    src = drop(clips["h264"], settings.points[0].path, "ZFY0001/stuck.mp4")
    with immutable(src):
        rt = open_runtime(settings, "test")
        try:
            with pytest.raises(SourceNotReleased):
                ingest_file(rt, settings.points[0], src)
        finally:
            rt.close()
        with running(settings) as (daemon, thread):  # recovery tries the release first: it must not stop here
            wait_for(lambda: listing(settings).get("ZFY0001/stuck.mp4", {}).get("kind") == "unreleased")
            assert thread.is_alive() and daemon.health.last_scan_at is not None and src.exists()
    with running(settings) as (daemon, thread):
        wait_for(lambda: not src.exists() and not listing(settings))
    assert len(items(settings)) == 1
