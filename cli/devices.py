"""`evidence devices`: which officer carries which recorder, over time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from cli.console import out
from cli.wiring import in_database, parse_time, runtime
from evidence import custody, devices, items, unit_of_work
from evidence.custody import EventKind
from evidence.models import DeviceAssignment

app = typer.Typer(help="Which officer carries which recorder, over time.", no_args_is_help=True)


def assign(
    session: Session, agent: str, serial: str, officer: str, since: datetime, unit: str | None = None
) -> DeviceAssignment:
    """Record the assignment and its custody event, in the caller's transaction."""
    row = devices.assign(session, serial, officer, since, unit)
    custody.append(
        session,
        EventKind.DEVICE_ASSIGNED,
        agent=agent,
        details={"serial": serial, "officer_id": officer, "unit": unit, "since": items.iso(since)},
    )
    return row


@app.command("assign")
def devices_assign(
    serial: str,
    officer: Annotated[str, typer.Option(help="Officer number (警号)")],
    since: Annotated[str | None, typer.Option(help="ISO time the officer took the device (default now)")] = None,
    unit: Annotated[str | None, typer.Option(help="The officer's unit (decides who may review the footage)")] = None,
) -> None:
    """Record that OFFICER carries recorder SERIAL from SINCE on."""
    when = parse_time(since) if since else datetime.now(UTC)
    with runtime() as rt:
        row = unit_of_work.run(rt.sessions, lambda session: assign(session, rt.agent(), serial, officer, when, unit))
    out.print(f"{row.serial} → officer {row.officer_id} from {items.iso(row.since)}")


@app.command("list")
def devices_list(serial: str | None = None) -> None:
    """The assignment history."""
    rows = in_database(lambda session: devices.assignments(session, serial))
    table = Table("serial", "officer", "since (UTC)", "until (UTC)")
    for r in rows:
        table.add_row(r.serial, r.officer_id, items.iso(r.since), items.iso(r.until) or "—")
    out.print(table)
