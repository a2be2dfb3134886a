"""`evidence report overdue`: recorders assigned now from which nothing has arrived for longer than
the deadline (only time on duty counts for officers with shift records).

Registered by the `report` group (cli/reports.py): ``app.command("overdue")(overdue_report.overdue)``.
"""

from __future__ import annotations

import csv
import enum
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.console import out
from cli.wiring import parse_time, reading, settings
from evidence import overdue as overdue_domain


class Format(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def overdue(
    output: Annotated[Format, typer.Option("--format", help="table, json (one array) or csv")] = Format.TABLE,
    at: Annotated[
        str | None, typer.Option(help="Judge at this ISO time instead of now (the registry keeps its history)")
    ] = None,
) -> None:
    """Overdue recorders, most overdue first: assigned to an officer, and nothing has arrived from them
    for longer than EVIDENCE_DEADLINE_HOURS since their last arrival (or the start of the assignment)."""
    now = parse_time(at) if at else datetime.now(UTC)
    hours = settings().deadline_hours
    rows = reading(lambda session: overdue_domain.report(session, now, hours))
    write(rows, output)


def write(rows: list[dict[str, Any]], output: Format) -> None:
    if output is Format.JSON:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    elif output is Format.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=overdue_domain.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(*overdue_domain.COLUMNS)
        for r in rows:
            table.add_row(*("—" if r[c] is None else str(r[c]) for c in overdue_domain.COLUMNS))
        out.print(table if rows else "no overdue recorders")
    sys.stdout.flush()
