"""The ``evidence`` command as a user runs it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.media import drop

EVIDENCE = str(Path(sys.executable).parent / "evidence")
SHOW_FIELDS = {
    "id",
    "sha256",
    "size_bytes",
    "original_filename",
    "device_serial",
    "unattributed",
    "officer_id",
    "station_id",
    "recorded_start",
    "recorded_end",
    "duration_s",
    "time_source",
    "received_at",
    "stored_at",
    "upload_deadline",
    "on_time",
    "late_by_s",
    "status",
    "media",
    "proxy_available",
    "error",
}


def lines(proc):
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_ingest_show_list_and_custody(cli, clips):
    upload = cli.home / "upload"
    cli("devices", "assign", "ZFY0001", "--officer", "110001", "--since", "2026-10-01T00:00:00+08:00")
    a = drop(clips["h264"], upload, "ZFY0001/a.mp4")
    z = drop(clips["zero"], upload, "ZFY0001/empty.mp4")
    ingested = cli("ingest", str(a), str(z), ok=False)
    out = lines(ingested)
    assert [o["outcome"] for o in out] == ["new", "rejected"] and ingested.returncode == 3
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
    assert proc.returncode == 8 and "BROKEN at event 3" in proc.stderr


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


@pytest.mark.parametrize(
    "args, says",
    [
        (["--kind", "nope"], "kind: 'nope' is not one of"),
        (["--user", "nobody"], "no user 'nobody'"),
        (["--item", str(2**63)], "no item"),
        (["--case", "5"], "no case 5"),
        (["--from", "yesterday"], "not an ISO 8601 time"),
        (["--from", "0001-01-01T00:00:00"], "out of range"),
        (["--limit", "0"], "limit"),
    ],
)
def test_custody_events_refuses_bad_filters(cli, args, says):
    proc = cli("custody", "events", *args, ok=False)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr


def test_outside_files_are_kept_and_missing_files_fail(cli, clips, tmp_path):
    outside = drop(clips["h264"], tmp_path / "elsewhere", "x.mp4")
    assert lines(cli("ingest", "--station", "MOBILE1", str(outside)))[0]["item"]["station_id"] == "MOBILE1"
    assert outside.exists()
    proc = cli("ingest", str(tmp_path / "nope.mp4"), ok=False)
    assert proc.returncode == 4 and lines(proc)[0]["error"] == "no such file"


@pytest.mark.parametrize(
    "args, code, says",
    [
        (["show", "999", "--json"], 4, "no item 999"),
        (["custody", "log", "999"], 4, "no item 999"),
        (["devices", "assign", "ZFY1", "--officer", "1", "--since", "yesterday"], 2, "not an ISO 8601 time"),
    ],
)
def test_bad_input_gets_a_message_and_an_exit_code(cli, args, code, says):
    proc = cli(*args, ok=False)
    assert proc.returncode == code and says in proc.stderr


def test_config_masks_secrets_and_refuses_bad_settings(cli):
    out = cli("config", extra_env={"EVIDENCE_STORAGE_URL": "s3://AK:topsecret@127.0.0.1:9000/ev?secure=false"})
    assert "topsecret" not in out.stdout and "AK:***@" in out.stdout
    bad = cli("config", ok=False, extra_env={"EVIDENCE_SOURCE_POLICY": "shred"})
    assert bad.returncode == 78 and "EVIDENCE_SOURCE_POLICY" in bad.stderr


def test_root_footage_is_listed_unattributed_and_attributed_at_the_station(cli, clips):
    cli("devices", "assign", "ZFY0001", "--officer", "110001", "--since", "2026-10-01T00:00:00+08:00", "--unit", "U1")
    loose = drop(clips["h264"], cli.home / "upload", "loose.mp4")
    ingested = cli("ingest", str(loose))
    item = lines(ingested)[0]["item"]
    assert item["unattributed"] is True and item["officer_id"] is None and item["on_time"] is None
    assert "unattributed" in ingested.stderr and f"evidence attribute {item['id']}" in ingested.stderr
    assert [r["id"] for r in lines(cli("list", "--unattributed", "--json"))] == [item["id"]]
    assert "unattributed" in cli("list").stdout

    said = cli("attribute", str(item["id"]), "--device", "ZFY0001", "--reason", "the dock log shows ZFY0001")
    assert "officer 110001" in said.stdout and "late" in said.stdout
    assert lines(cli("list", "--unattributed", "--json")) == []
    shown = lines(cli("show", str(item["id"]), "--json"))[0]
    assert (shown["device_serial"], shown["officer_id"], shown["unit"], shown["on_time"]) == (
        "ZFY0001",
        "110001",
        "U1",
        False,
    )
    event = [e for e in lines(cli("custody", "log", str(item["id"]), "--json")) if e["kind"] == "attributed"][-1]
    assert event["details"]["reason"] == "the dock log shows ZFY0001"
    assert event["details"]["by"].startswith("station operator")
    again = cli("attribute", str(item["id"]), "--device", "ZFY0001", ok=False)
    assert again.returncode == 2 and "already attributed" in again.stderr
    assert "intact" in cli("custody", "verify").stdout


def test_users_list_shows_roles_one_time_passwords_and_last_sign_in(cli):
    cli("users", "add", "li.wei", "--role", "reviewer", "--role", "supervisor", "--unit", "U1")
    cli("users", "add", "zhang", "--role", "officer", "--unit", "U2", "--officer-id", "220002")
    cli("users", "disable", "zhang")
    listed = {u["username"]: u for u in lines(cli("users", "list", "--json"))}
    assert listed["li.wei"] == {
        "username": "li.wei",
        "unit": "U1",
        "roles": ["reviewer", "supervisor"],
        "officer_id": None,
        "disabled": False,
        "password_change_required": True,
        "last_sign_in_at": None,
    }
    assert listed["zhang"]["disabled"] is True and listed["zhang"]["officer_id"] == "220002"
    table = cli("users", "list").stdout
    assert "li.wei" in table and "one-time" in table and "never" in table


def test_samples_assign_the_recorders_and_make_the_demo_user_once(cli):
    first = cli("samples")
    assert "one-time password" in first.stderr and first.stderr.count("sample: ") >= 2
    again = cli("samples")  # the demo user exists: said so, and the rest still done
    assert "user demo exists already" in again.stderr and "sample: " in again.stderr
    recorders = cli("devices", "list").stdout
    assert "ZFY0001" in recorders and "110001" in recorders and "ZFY0002" in recorders
    assert "new one-time password for demo" in cli("users", "passwd", "demo").stdout
    (demo,) = lines(cli("users", "list", "--json"))
    assert demo["roles"] == ["supervisor"] and demo["unit"] == "U-DEMO"


def test_ingest_names_what_is_not_a_regular_file(cli, clips, tmp_path):
    upload = cli.home / "upload" / "ZFY0001"
    upload.mkdir(parents=True)
    os.mkfifo(upload / "pipe.mp4")
    (upload / "link.mp4").symlink_to(drop(clips["h264"], tmp_path / "outside", "secret.mp4"))
    (cli.home / "upload" / "ZFY0002").symlink_to(tmp_path / "outside")
    proc = cli(
        "ingest",
        str(upload / "pipe.mp4"),
        str(upload / "link.mp4"),
        str(cli.home / "upload" / "ZFY0002" / "secret.mp4"),
        ok=False,
    )
    out = lines(proc)
    assert proc.returncode == 2 and [o["outcome"] for o in out] == ["error"] * 3
    assert out[0]["error"] == "not a regular file: it is a FIFO (named pipe)"
    assert "symbolic link" in out[1]["error"] and "links are never followed" in out[2]["error"]
    assert (tmp_path / "outside" / "secret.mp4").exists()


def test_ingest_and_status_escape_names(cli, clips):
    upload = cli.home / "upload"
    name = "ZFY0001/\x1b[31mred\nline\x07.mp4"
    src = drop(clips["h264"], upload, name)
    odd = upload / os.fsdecode(b"ZFY0001/\xff.mp4")
    odd.write_bytes(clips["h264"].read_bytes() + b"odd")
    out = lines(cli("ingest", "--no-process", str(src), str(odd)))
    assert [o["outcome"] for o in out] == ["new", "new"]
    assert out[0]["item"]["original_filename"] == "\\x1b[31mred\\x0aline\\x07.mp4"
    assert out[1]["path"].endswith("ZFY0001/\\xff.mp4")
    listed = cli("list")
    assert "\x1b" not in listed.stdout and "\\x1b[31mred" in listed.stdout


def test_status_lists_what_the_daemon_left_alone(cli, clips):
    from evidence import skipped
    from evidence.adapters.database import make_engine, make_sessionmaker
    from evidence.skipped import Skip, SkipKind
    from evidence.unit_of_work import transaction

    assert "nothing skipped" in cli("status").stdout
    engine = make_engine(f"sqlite:///{cli.home / 'evidence.db'}")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            skipped.reconcile(
                session,
                "ST01",
                str(cli.home / "upload"),
                [
                    Skip("ZFY0001/link.mp4", SkipKind.LINK, "symbolic link to /etc: links are never followed"),
                    Skip(os.fsdecode(b"ZFY0001/\x1b[2J\xff"), SkipKind.SPECIAL, "not a regular file: a FIFO"),
                ],
            )
    finally:
        engine.dispose()
    table = cli("status").stdout
    assert "ZFY0001/link.mp4" in table and "links are never followed" in table and "\x1b" not in table
    rows = lines(cli("status", "--json"))
    assert [(r["kind"], r["path"]) for r in rows] == [
        ("link", "ZFY0001/link.mp4"),
        ("special", "ZFY0001/\\x1b[2J\\xff"),
    ]


def test_retention_sweep_hold_and_release_at_the_console(cli, clips):
    item = lines(cli("ingest", str(clips["h264"])))[0]["item_id"]
    far = "2099-01-01T00:00:00Z"
    refused = cli("retention", "sweep", "--as-of", far, ok=False)
    assert refused.returncode == 77 and "EVIDENCE_ALLOW_CLOCK_OVERRIDE" in refused.stderr
    dry = lines(cli("retention", "sweep", "--as-of", far, "--dry-run", "--format", "json"))[0]
    assert dry["dry_run"] and [e["id"] for e in dry["expired"]] == [item]
    assert cli("hold", str(item), ok=False).returncode == 2  # a reason is required
    cli("hold", str(item), "--reason", "court order 17")
    shown = json.loads(cli("show", str(item), "--json").stdout)
    assert shown["retention"]["class"] == "hold"
    override = {"EVIDENCE_ALLOW_CLOCK_OVERRIDE": "1"}
    real = lines(cli("retention", "sweep", "--as-of", far, "--format", "json", extra_env=override))[0]
    assert real["expired"] == [] and not real["dry_run"]
    cli("release", str(item), "--reason", "order lifted")
    real = lines(cli("retention", "sweep", "--as-of", far, "--format", "json", extra_env=override))[0]
    assert [e["id"] for e in real["expired"]] == [item]
    cli("custody", "verify")
