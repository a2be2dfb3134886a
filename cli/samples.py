"""`evidence samples`: generated clips in an upload point, their recorders assigned, and a demo user."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from cli.console import err
from cli.devices import assign as assign_device
from cli.wiring import runtime, settings
from evidence import devices, unit_of_work, users
from evidence.errors import InvalidInput

# The demo user: a supervisor of the unit the sample recorders belong to
DEMO_USER, DEMO_ROLE, DEMO_UNIT = "demo", "supervisor", "U-DEMO"
SAMPLE_OFFICERS = (("ZFY0001", "110001"), ("ZFY0002", "110002"))
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def samples(
    into: Annotated[Path | None, typer.Option(help="Upload point to fill (default: the first)")] = None,
    assign: Annotated[bool, typer.Option(help="Also assign the sample recorders to officers")] = True,
) -> None:
    """Place a few generated sample clips in an upload point, as a docking station would."""
    from ingest.samples import make_samples

    s = settings()
    target = into or s.points[0].path
    made = make_samples(target, datetime.now(UTC), s.zone)
    if assign:
        with runtime() as rt:
            password = unit_of_work.run(rt.sessions, lambda session: _demo_world(session, rt.agent()))
        if password is None:
            err.print(
                f"user {DEMO_USER} exists already (`evidence users passwd {DEMO_USER}` gives a new password)",
                soft_wrap=True,
            )
        else:
            err.print(
                f"sign in as [bold]{DEMO_USER}[/bold] ({DEMO_ROLE} of {DEMO_UNIT}), "
                f"one-time password [bold]{password}[/bold] "
                "(the web pages then ask you to choose your own; API: POST /api/v1/me/password)",
                soft_wrap=True,
            )
    for path in made:
        err.print(f"sample: {path}")


def _demo_world(session: Session, agent: str) -> str | None:
    """Assign the sample recorders (once) and add the demo user; its one-time password, None if it exists."""
    for serial, officer in SAMPLE_OFFICERS:
        if devices.assignment_at(session, serial, LONG_AGO) is None:
            assign_device(session, agent, serial, officer, LONG_AGO, DEMO_UNIT)
    try:
        return users.add_user(session, DEMO_USER, [DEMO_ROLE], DEMO_UNIT)[1]
    except InvalidInput:  # raised before it writes anything: the assignments above still commit
        return None
