"""`evidence attribute`: unattributed footage given its recorder, at the station's console."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import out
from cli.wiring import operator, runtime
from evidence import attribution, items, unit_of_work


def attribute(
    item_id: Annotated[int, typer.Argument(metavar="ITEM", help="The unattributed item")],
    device: Annotated[str, typer.Option(help="Serial of the recorder it came from")],
    reason: Annotated[str, typer.Option(help="Why it is this recorder's footage")] = "attributed at the station",
) -> None:
    """Attribute unattributed footage to recorder DEVICE: its officer and unit at the recording time
    become the item's (a custody event; once only)."""
    by = operator()
    with runtime() as rt:

        def write(session) -> dict:
            plan = attribution.prepare(session, item_id, device)
            item = attribution.apply(
                session, plan, by=by, reason=reason, agent=rt.agent(), deadline_hours=rt.settings.deadline_hours
            )
            return items.item_view(item)

        view = unit_of_work.run(rt.sessions, write)
    on_time = "not judged" if view["on_time"] is None else ("on time" if view["on_time"] else "late")
    out.print(
        f"item {item_id} → recorder {view['device_serial']}, officer {view['officer_id']}, "
        f"unit {view['unit'] or '—'} ({on_time})"
    )
