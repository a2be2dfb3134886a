"""`evidence shifts`: officers' duty periods; when an officer has any, only time on duty counts
toward an overdue recorder (`evidence report overdue`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import emit, out
from cli.wiring import in_database, operator, parse_time, reading, settings
from evidence import shifts
from evidence.errors import InvalidInput

app = typer.Typer(help="Officers' duty periods (shifts), for the overdue-recorders report.", no_args_is_help=True)


@app.command("add")
def shifts_add(
    officer: Annotated[str, typer.Argument(metavar="OFFICER", help="The officer's number (警号)")],
    start: Annotated[str, typer.Option("--from", help="ISO time duty starts (without a zone: station-local)")],
    end: Annotated[str, typer.Option("--to", help="ISO time duty ends (without a zone: station-local)")],
) -> None:
    """Record that OFFICER is on duty from FROM to TO (refused if it overlaps another of their shifts)."""
    starts, ends, by = parse_time(start), parse_time(end), operator()
    view = in_database(
        lambda session: shifts.shift_view(shifts.add(session, officer, starts, ends, created_by=by, source="cli"))
    )
    out.print(f"shift {view['id']}: officer {view['officer_id']} {view['from']} → {view['to']} ({view['hours']} h)")


@app.command("import")
def shifts_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="columns officer_id,from,to (UTF-8)")],
) -> None:
    """Add every shift in FILE.csv, or none: each bad line is listed (times without a zone are station-local)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from exc
    zone, by = settings().zone, operator()
    count = in_database(lambda session: len(shifts.import_csv(session, text, zone, created_by=by)))
    out.print(f"{count} shift(s) imported from {file}")


@app.command("list")
def shifts_list(
    officer: Annotated[str | None, typer.Option(help="One officer's number")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Shifts ending after this ISO time")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Shifts starting before this ISO time")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Shifts by start time."""
    since, until = (parse_time(start) if start else None), (parse_time(end) if end else None)
    rows = reading(
        lambda session: shifts.views(
            shifts.list_shifts(session, officer_id=officer, since=since, until=until, limit=limit)
        )
    )
    if as_json:
        for row in rows:
            emit(row)
        return
    table = Table("id", "officer", "from (UTC)", "to (UTC)", "hours", "source", "added by")
    for r in rows:
        table.add_row(str(r["id"]), r["officer_id"], r["from"], r["to"], str(r["hours"]), r["source"], r["created_by"])
    out.print(table)
