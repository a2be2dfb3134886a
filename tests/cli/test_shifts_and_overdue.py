"""`evidence shifts …` and `evidence report overdue`, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.models import Item
from evidence.unit_of_work import transaction

EVIDENCE = str(Path(sys.executable).parent / "evidence")
OVERDUE = [EVIDENCE, "report", "overdue"]
AT = "2026-11-20T12:00:00Z"


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_HOME=str(tmp_path / "home"), EVIDENCE_STATION_ID="ST01", EVIDENCE_LOG_LEVEL="WARNING")

    def run(*args, ok=True, command=(EVIDENCE,)):
        proc = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    run.home = tmp_path / "home"
    return run


def test_shifts_add_import_list(cli, tmp_path):
    added = cli("shifts", "add", "110001", "--from", "2026-11-20T08:00", "--to", "2026-11-20T18:00")
    assert "2026-11-20T00:00:00Z → 2026-11-20T10:00:00Z (10.0 h)" in added.stdout  # station-local (Shanghai)
    clash = cli("shifts", "add", "110001", "--from", "2026-11-20T17:00", "--to", "2026-11-20T19:00", ok=False)
    assert clash.returncode == 2 and "overlaps" in clash.stderr

    good = tmp_path / "good.csv"
    good.write_text(
        "officer_id,from,to\n110002,2026-11-20T00:00:00Z,2026-11-20T08:00:00Z\n110002,2026-11-21T08:00,2026-11-21T16:00\n"
    )
    assert "2 shift(s) imported" in cli("shifts", "import", str(good)).stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("officer_id,from,to\n110003,2026-11-20T08:00,2026-11-20T16:00\n110003,2026-11-20T09:00,noon\n")
    refused = cli("shifts", "import", str(bad), ok=False)
    assert refused.returncode == 2 and "line 3: not an ISO 8601 time: 'noon'" in refused.stderr
    missing = cli("shifts", "import", str(tmp_path / "none.csv"), ok=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr

    rows = [json.loads(line) for line in cli("shifts", "list", "--json").stdout.splitlines()]
    assert [(r["officer_id"], r["source"]) for r in rows] == [
        ("110001", "cli"),
        ("110002", "import"),
        ("110002", "import"),
    ]
    assert rows[0]["created_by"].startswith("station operator")
    assert (
        len(cli("shifts", "list", "--json", "--officer", "110002", "--from", "2026-11-21T00:00Z").stdout.splitlines())
        == 1
    )
    assert "110001" in cli("shifts", "list").stdout


def arrive(home: Path, serial: str, received_at: datetime) -> None:
    engine = make_engine(f"sqlite:///{home / 'evidence.db'}")
    with transaction(make_sessionmaker(engine)) as session:
        session.add(
            Item(
                sha256=f"{serial:0<64}"[:64],
                size_bytes=1,
                object_key=f"originals/{serial}",
                original_filename="a.mp4",
                source_path=f"{serial}/a.mp4",
                source_mtime=received_at,
                device_serial=serial,
                station_id="ST01",
                received_at=received_at,
                stored_at=received_at,
            )
        )
    engine.dispose()


def test_overdue_report_formats(cli):
    cli("devices", "assign", "ZFY0001", "--officer", "110001", "--unit", "U1", "--since", "2026-11-01T00:00:00Z")
    cli("devices", "assign", "ZFY0002", "--officer", "220002", "--unit", "U2", "--since", "2026-11-01T00:00:00Z")
    cli("devices", "assign", "ZFY0003", "--officer", "330003", "--since", "2026-11-20T00:00:00Z")
    arrive(cli.home, "ZFY0002", datetime(2026, 11, 18, 0, 0, tzinfo=UTC))  # 60 h before AT: 36 h overdue
    arrive(cli.home, "ZFY0003", datetime(2026, 11, 20, 6, 0, tzinfo=UTC))  # docked recently
    # ZFY0001 never docked: 19 days 12 h since its assignment, 444 h overdue

    as_json = json.loads(cli("--format", "json", "--at", AT, command=OVERDUE).stdout)
    assert [(r["device_serial"], r["hours_overdue"]) for r in as_json] == [("ZFY0001", 444.0), ("ZFY0002", 36.0)]
    assert as_json[1] == {
        "device_serial": "ZFY0002",
        "officer_id": "220002",
        "unit": "U2",
        "last_arrival_at": "2026-11-18T00:00:00Z",
        "since": "2026-11-18T00:00:00Z",
        "hours_overdue": 36.0,
    }
    as_csv = list(csv.DictReader(io.StringIO(cli("--format", "csv", "--at", AT, command=OVERDUE).stdout)))
    assert [r["device_serial"] for r in as_csv] == ["ZFY0001", "ZFY0002"]
    assert as_csv[0]["last_arrival_at"] == "" and as_csv[1]["hours_overdue"] == "36.0"
    table = cli("--at", AT, command=OVERDUE).stdout
    assert "ZFY0001" in table and "444.0" in table and "ZFY0003" not in table

    # with shift records only time on duty counts: 110001 was on duty 30 h since the assignment
    cli("shifts", "add", "110001", "--from", "2026-11-18T00:00Z", "--to", "2026-11-19T06:00Z")
    after = json.loads(cli("--format", "json", "--at", AT, command=OVERDUE).stdout)
    assert [(r["device_serial"], r["hours_overdue"]) for r in after] == [("ZFY0002", 36.0), ("ZFY0001", 6.0)]
    assert "no overdue recorders" in cli("--at", "2026-11-01T12:00:00Z", command=OVERDUE).stdout
    assert cli("--format", "xml", command=OVERDUE, ok=False).returncode == 2
