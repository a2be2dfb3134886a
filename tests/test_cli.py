"""The ``evidence`` command as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media import drop

EVIDENCE = str(Path(sys.executable).parent / "evidence")
SHOW_FIELDS = {"id", "sha256", "size_bytes", "original_filename", "device_serial", "officer_id", "station_id",
               "recorded_start", "recorded_end", "duration_s", "time_source", "received_at", "stored_at",
               "upload_deadline", "on_time", "late_by_s", "status", "media", "proxy_available", "error"}


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_HOME=str(tmp_path / "home"), EVIDENCE_STATION_ID="ST01", EVIDENCE_LOG_LEVEL="WARNING")

    def run(*args, ok=True, extra_env=None):
        proc = subprocess.run([EVIDENCE, *args], env={**env, **(extra_env or {})}, capture_output=True, text=True,
                              timeout=300)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    run.home = tmp_path / "home"
    return run


def lines(proc):
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_ingest_show_list_and_custody(cli, clips):
    upload = cli.home / "upload"
    cli("devices", "assign", "ZFY0001", "--officer", "110001", "--since", "2026-10-01T00:00:00+08:00")
    a = drop(clips["h264"], upload, "ZFY0001/a.mp4")
    z = drop(clips["zero"], upload, "ZFY0001/empty.mp4")
    out = lines(cli("ingest", str(a), str(z)))
    assert [o["outcome"] for o in out] == ["new", "rejected"]
    assert out[0]["item"]["officer_id"] == "110001" and out[0]["item"]["status"] == "ready"

    shown = lines(cli("show", str(out[0]["item_id"]), "--json"))[0]
    assert SHOW_FIELDS <= set(shown)
    assert set(shown["media"]) == {"container", "video_codec", "audio_codec", "width", "height", "fps"}
    assert shown["received_at"].endswith("Z") and shown["recorded_start"] == "2026-11-01T08:00:00Z"

    listed = lines(cli("list", "--json"))
    assert [r["status"] for r in listed] == ["ready", "rejected"]
    assert "zero-byte" in listed[1]["reason"]
    assert "zero-byte" in cli("list").stdout

    log = lines(cli("custody", "log", str(shown["id"]), "--json"))
    assert log[0]["kind"] == "received" and log[-1]["kind"] == "proxy_made"
    assert "intact" in cli("custody", "verify").stdout


def test_custody_verify_fails_and_names_the_bad_event(cli, clips):
    import sqlite3

    cli("ingest", str(drop(clips["h264"], cli.home / "upload", "ZFY0001/a.mp4")))
    with sqlite3.connect(cli.home / "evidence.db") as db:
        db.execute("UPDATE custody_events SET agent = 'someone else' WHERE seq = 3")
    proc = cli("custody", "verify", ok=False)
    assert proc.returncode == 1 and "event 3" in proc.stderr


def test_custody_events_search_with_filters_and_pages(cli, clips):
    upload = cli.home / "upload"
    first = lines(cli("ingest", str(drop(clips["h264"], upload, "ZFY0001/a.mp4"))))[0]["item_id"]
    lines(cli("ingest", str(drop(clips["h265"], upload, "ZFY0001/b.mp4"))))
    everything = lines(cli("custody", "events", "--json", "--limit", "1000"))
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    received = lines(cli("custody", "events", "--kind", "received", "--json"))
    assert len(received) == 2 and {e["kind"] for e in received} == {"received"}
    assert {e["item_id"] for e in lines(cli("custody", "events", "--item", str(first), "--json"))} == {first}
    assert lines(cli("custody", "events", "--from", "2999-01-01T00:00:00", "--json")) == []
    page = cli("custody", "events", "--limit", "3", "--after", "2", "--json")
    assert [e["seq"] for e in lines(page)] == [3, 4, 5] and "--after 5" in page.stderr
    assert "received" in cli("custody", "events", "--kind", "received").stdout


@pytest.mark.parametrize("args, says", [
    (["--kind", "nope"], "kind: 'nope' is not one of"),
    (["--user", "nobody"], "no user 'nobody'"),
    (["--item", str(2**63)], "no item"),
    (["--case", "5"], "no case 5"),
    (["--from", "yesterday"], "not an ISO 8601 time"),
    (["--from", "0001-01-01T00:00:00"], "out of range"),
    (["--limit", "0"], "limit"),
])
def test_custody_events_refuses_bad_filters(cli, args, says):
    proc = cli("custody", "events", *args, ok=False)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr


def test_outside_files_are_kept_and_missing_files_fail(cli, clips, tmp_path):
    outside = drop(clips["h264"], tmp_path / "elsewhere", "x.mp4")
    assert lines(cli("ingest", "--station", "MOBILE1", str(outside)))[0]["item"]["station_id"] == "MOBILE1"
    assert outside.exists()
    proc = cli("ingest", str(tmp_path / "nope.mp4"), ok=False)
    assert proc.returncode == 1 and lines(proc)[0]["error"] == "no such file"


@pytest.mark.parametrize("args, code, says", [
    (["show", "999", "--json"], 4, "no item 999"),
    (["custody", "log", "999"], 4, "no item 999"),
    (["devices", "assign", "ZFY1", "--officer", "1", "--since", "yesterday"], 2, "not an ISO 8601 time"),
])
def test_bad_input_gets_a_message_and_an_exit_code(cli, args, code, says):
    proc = cli(*args, ok=False)
    assert proc.returncode == code and says in proc.stderr


def test_config_masks_secrets_and_refuses_bad_settings(cli):
    out = cli("config", extra_env={"EVIDENCE_STORAGE_URL": "s3://AK:topsecret@127.0.0.1:9000/ev?secure=false"})
    assert "topsecret" not in out.stdout and "AK:***@" in out.stdout
    bad = cli("config", ok=False, extra_env={"EVIDENCE_SOURCE_POLICY": "shred"})
    assert bad.returncode == 78 and "EVIDENCE_SOURCE_POLICY" in bad.stderr
