"""`evidence report deadlines` and `evidence excuse` as a user runs them."""

from __future__ import annotations

import csv
import io
import json

from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.unit_of_work import transaction
from tests.evidence.reporting import recording, utc


def test_report_formats_and_excuses_at_the_console(cli):  # noqa: F811
    cli("users", "add", "sup1", "--role", "supervisor", "--unit", "U1")
    cli("users", "add", "aud", "--role", "auditor", "--unit", "U9")
    engine = make_engine(f"sqlite:///{cli.home / 'evidence.db'}")
    with transaction(make_sessionmaker(engine)) as s:
        late = recording(s, utc(2026, 11, 2), late_s=90).id
        on_time = recording(s, utc(2026, 11, 3)).id
    engine.dispose()
    period = ("--from", "2026-11-01", "--to", "2026-11-30")
    refused = cli("excuse", str(late), "--reason", "auditors may not", "--by", "aud", ok=False)
    assert refused.returncode == 77 and "only a supervisor" in refused.stderr
    assert cli("excuse", str(on_time), "--reason", "was on time", "--by", "sup1", ok=False).returncode == 2
    cli("excuse", str(late), "--reason", "recorder battery died", "--by", "sup1")
    report = json.loads(cli("report", "deadlines", *period, "--format", "json").stdout)
    [group] = report["groups"]
    assert (group["on_time"], group["excused"], group["late"], group["compliance_rate"]) == (1, 1, 0, 1.0)
    assert report["late_items"][0]["excuse_reason"] == "recorder battery died"
    rows = list(csv.DictReader(io.StringIO(cli("report", "deadlines", *period, "--format", "csv").stdout)))
    assert rows[0]["key"] == "110001" and rows[0]["excused"] == "1"
    table = cli("report", "deadlines", *period, "--group-by", "unit").stdout
    assert "by unit" in table and "U1" in table
    [listed] = [json.loads(line) for line in cli("excuses", "list", "--json").stdout.splitlines()]
    cli("excuses", "revoke", str(listed["id"]), "--reason", "not ill after all", "--by", "sup1")
    window = cli(
        "excuse", "--officer", "110001", *period[:1], "2026-11-01T00:00", "--to", "2026-11-05T00:00",
        "--reason", "flood", "--by", "sup1",
    )  # fmt: skip
    assert f"now: {late}" in window.stdout
    assert cli("report", "deadlines", "--from", "2026-11-30", "--to", "2026-11-01", ok=False).returncode == 2


def test_report_rebuild_counts_into_the_rollup_and_a_zone_change_is_noticed(cli):  # noqa: F811
    engine = make_engine(f"sqlite:///{cli.home / 'evidence.db'}")
    cli("report", "deadlines", "--from", "2026-11-01", "--to", "2026-11-30")  # migrates the database
    with transaction(make_sessionmaker(engine)) as s:
        # written in bulk, past the code that keeps the rollup: only a rebuild counts them
        recording(s, utc(2026, 11, 2), late_s=90, counted=False)
        recording(s, utc(2026, 11, 3), counted=False)
    engine.dispose()
    period = ("--from", "2026-11-01", "--to", "2026-11-30")
    before = json.loads(cli("report", "deadlines", *period, "--format", "json").stdout)
    assert before["groups"] == []
    done = cli("report", "rebuild")
    assert "2 recordings counted" in done.stdout
    after = cli("report", "deadlines", *period, "--format", "json")
    [group] = json.loads(after.stdout)["groups"]
    assert (group["recordings"], group["on_time"], group["late"]) == (2, 1, 1) and "rebuild" not in after.stderr
    moved = cli("report", "deadlines", *period, extra_env={"EVIDENCE_TIMEZONE": "Europe/Paris"})
    assert "run `evidence report rebuild`" in moved.stderr
