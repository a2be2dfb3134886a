"""`evidence hold` and `evidence release`: legal holds placed at the station's console."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from cli.console import emit, out
from cli.wiring import operator, runtime
from evidence import holds, unit_of_work
from evidence.errors import InvalidInput
from evidence.items import get_item

Item = Annotated[int | None, typer.Argument(metavar="[ITEM]", help="The item to hold (or give --case)")]
CaseNumber = Annotated[str | None, typer.Option("--case", metavar="NUMBER", help="Hold every item of this case")]
AsJson = Annotated[bool, typer.Option("--json")]


def _act(item_id: int | None, case: str | None, reason: str, placing: bool, as_json: bool) -> None:
    if (item_id is None) == (case is None):
        raise InvalidInput("give an ITEM or --case NUMBER (one of them)")
    by = operator()
    with runtime() as rt:

        def work(session: Session) -> dict:
            act = holds.place if placing else holds.release
            target = (
                {"item": get_item(session, item_id)}
                if item_id is not None
                else {"case": holds.case_by_number(session, case or "")}
            )
            hold = act(session, **target, reason=reason, by=by, agent=rt.agent(), rules=rt.settings.retention)
            return holds.hold_view(hold, case)

        view = unit_of_work.run(rt.sessions, work)
    if as_json:
        emit(view)
        return
    what = f"item {item_id}" if item_id is not None else f"case {case}"
    out.print(
        f"{what}: legal hold {'placed' if placing else 'released'} ({view['reason' if placing else 'release_reason']})"
    )


def hold(
    item_id: Item = None,
    case: CaseNumber = None,
    reason: Annotated[str, typer.Option(help="Why it must be kept (required)")] = "",
    as_json: AsJson = False,
) -> None:
    """Place a legal hold on ITEM or on a whole case: nothing under it is expired or purged (a custody event)."""
    _act(item_id, case, reason, True, as_json)


def release(
    item_id: Item = None,
    case: CaseNumber = None,
    reason: Annotated[str, typer.Option(help="Why the hold ends (required)")] = "",
    as_json: AsJson = False,
) -> None:
    """Release the legal hold on ITEM or on a case; retention applies again (a custody event)."""
    _act(item_id, case, reason, False, as_json)
