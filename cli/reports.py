"""`evidence report`: reports for auditors, at the station's console (every unit)."""

from __future__ import annotations

import enum
import json
import sys
from datetime import date
from typing import Annotated

import typer

from cli.overdue_report import overdue
from cli.wiring import in_database, reading, settings
from evidence import deadline_report, report_rollup
from evidence.deadline_report import GroupBy
from evidence.errors import InvalidInput

app = typer.Typer(help="Reports: upload-deadline compliance, overdue recorders.", no_args_is_help=True)


class Format(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{what}: not a calendar day (YYYY-MM-DD): {text!r}") from exc


@app.command("deadlines")
def deadlines(
    start: Annotated[str, typer.Option("--from", help="First station-local day (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="Last station-local day, included (YYYY-MM-DD)")],
    group_by: Annotated[GroupBy, typer.Option("--group-by", help="One row per …")] = GroupBy.OFFICER,
    fmt: Annotated[Format, typer.Option("--format", help="table, json (with the late and doubtful items) or csv")] = (
        Format.TABLE
    ),
) -> None:
    """Upload-deadline compliance of the recordings that ended in [FROM, TO] (station-local days):
    on time, late, excused, doubtful, compliance rate, median and longest lateness, per group."""
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    zone = settings().zone
    result, built = reading(
        lambda session: (
            deadline_report.report(session, None, first, last, group_by=group_by, zone=zone, items=fmt is Format.JSON),
            report_rollup.built_zone(session),
        )
    )
    if built is not None and built != report_rollup.zone_name(zone):
        print(
            f"note: the report rollup is built for {built}, not {report_rollup.zone_name(zone)}: the report read "
            "every recording of the period (exact, slower); run `evidence report rebuild`",
            file=sys.stderr,
        )
    if fmt is Format.JSON:
        text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    else:
        text = deadline_report.as_csv(result) if fmt is Format.CSV else deadline_report.as_table(result)
    sys.stdout.write(text)
    sys.stdout.flush()


app.command("overdue")(overdue)


@app.command("rebuild")
def rebuild() -> None:
    """Count every recording again into the deadline report's rollup (per station-local day of
    EVIDENCE_TIMEZONE), so that long periods are read from it. Needed once after the upgrade that
    adds it, and after a change of EVIDENCE_TIMEZONE; safe while ingest runs (it waits for, and
    holds up, the transactions that judge recordings)."""
    zone = settings().zone
    in_database(report_rollup.prepare)
    counted = in_database(lambda session: report_rollup.rebuild(session, zone))
    print(f"report rollup rebuilt for {report_rollup.zone_name(zone)}: {counted} recordings counted")
