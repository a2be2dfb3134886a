"""`evidence report`: reports for auditors, at the station's console (every unit)."""

from __future__ import annotations

import enum
import json
import sys
from datetime import date
from typing import Annotated

import typer

from cli.overdue_report import overdue
from cli.wiring import reading, settings
from evidence import deadline_report
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
    result = reading(
        lambda session: deadline_report.report(
            session, None, first, last, group_by=group_by, zone=zone, items=fmt is Format.JSON
        )
    )
    if fmt is Format.JSON:
        text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    else:
        text = deadline_report.as_csv(result) if fmt is Format.CSV else deadline_report.as_table(result)
    sys.stdout.write(text)
    sys.stdout.flush()


app.command("overdue")(overdue)
