"""`evidence excuse` and `evidence excuses`: a supervisor's excuse for late uploads, at the station's console."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from cli.console import emit, out
from cli.wiring import in_database, parse_time, runtime
from evidence import access, custody, excuses, unit_of_work
from evidence.custody import EventKind, Outcome
from evidence.errors import Forbidden, InvalidInput

T = TypeVar("T")

app = typer.Typer(help="Excused lateness: list and revoke excuses.", no_args_is_help=True)


def _as_supervisor(by: str, act: Callable[[Session, Any, str], T]) -> T:
    """``act(session, who, agent)`` for user ``by`` in one unit of work; a refusal is recorded as an
    access_denied custody event, then raised as Forbidden (exit 77)."""
    with runtime() as rt:
        agent = f"{rt.agent()}; for user={by}"
        try:
            return unit_of_work.run(rt.sessions, lambda s: act(s, excuses.approver(s, by), agent))
        except access.Refused as refused:
            details = {"action": refused.action, **refused.details, "reason": refused.decision.reason, "by": by}
            item_id = refused.item_id
            unit_of_work.run(
                rt.sessions,
                lambda s: custody.append(
                    s,
                    EventKind.ACCESS_DENIED,
                    agent=agent,
                    item_id=item_id,
                    outcome=Outcome.FAILURE,
                    details={k: v for k, v in details.items() if v is not None},
                ),
            )
            raise Forbidden(refused.decision.reason) from None


def excuse(
    item_id: Annotated[int | None, typer.Argument(metavar="[ITEM]", help="The late item")] = None,
    reason: Annotated[str, typer.Option(help="Why the lateness is excused")] = "",
    by: Annotated[str, typer.Option("--by", metavar="USERNAME", help="The approving supervisor")] = "",
    officer: Annotated[str | None, typer.Option(help="Window form: the officer (警号)")] = None,
    device: Annotated[str | None, typer.Option(help="Window form: the recorder's serial")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Window start (ISO 8601; no zone: the station's)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Window end, excluded (ISO 8601)")] = None,
) -> None:
    """Excuse the lateness of late ITEM, or of an --officer's or a --device's recordings that end in
    [--from, --to) (those here and those still to arrive). A custody event; revoke with `excuses revoke`."""
    if not by or not reason:
        raise InvalidInput("give --reason and --by USERNAME (the approving supervisor)")
    if item_id is not None:
        if officer or device or since or until:
            raise InvalidInput("give an ITEM, or a window (--officer/--device, --from, --to), not both")
        view = _as_supervisor(
            by,
            lambda s, who, agent: excuses.excuse_view(excuses.excuse_item(s, who, item_id, reason=reason, agent=agent)),
        )
        out.print(f"excuse {view['id']}: lateness of item {item_id} excused by {by}", markup=False)
        return
    if not since or not until:
        raise InvalidInput("give an ITEM, or a window: --officer or --device with --from and --to")
    start, end = parse_time(since), parse_time(until)

    def window(s: Session, who: Any, agent: str) -> tuple[dict, list[int]]:
        row, covered = excuses.excuse_window(
            s, who, officer_id=officer, device_serial=device, start=start, end=end, reason=reason, agent=agent
        )
        return excuses.excuse_view(row), covered

    view, covered = _as_supervisor(by, window)
    whose = f"officer {officer}" if officer else f"recorder {device}"
    out.print(
        f"excuse {view['id']}: {whose}, {view['from']} … {view['to']}, excused by {by} "
        f"({len(covered)} late recording(s) now: {', '.join(map(str, covered)) or 'none'})",
        markup=False,
    )


@app.command("revoke")
def revoke(
    excuse_id: Annotated[int, typer.Argument(metavar="EXCUSE")],
    reason: Annotated[str, typer.Option(help="Why it is revoked")],
    by: Annotated[str, typer.Option("--by", metavar="USERNAME", help="The revoking supervisor")],
) -> None:
    """Revoke an excuse (it stays on record, as revoked; a custody event)."""
    _as_supervisor(by, lambda s, who, agent: excuses.revoke(s, who, excuse_id, reason=reason, agent=agent))
    out.print(f"excuse {excuse_id} revoked by {by}", markup=False)


@app.command("list")
def list_excuses(
    item: Annotated[int | None, typer.Option(help="Only this item's")] = None,
    officer: Annotated[str | None, typer.Option(help="Only this officer's windows")] = None,
    device: Annotated[str | None, typer.Option(help="Only this recorder's windows")] = None,
    active: Annotated[bool | None, typer.Option("--active/--revoked", help="Only unrevoked, or only revoked")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Excuses, newest first."""
    views = in_database(
        lambda s: [
            excuses.excuse_view(e)
            for e in excuses.list_excuses(
                s, None, item_id=item, officer_id=officer, device_serial=device, active=active
            )
        ]
    )
    if as_json:
        for view in views:
            emit(view)
        return
    table = Table("id", "item / window", "reason", "approved by", "state")
    for v in views:
        what = (
            f"item {v['item_id']}"
            if v["item_id"] is not None
            else f"{v['officer_id'] or v['device_serial']} {v['from']} … {v['to']}"
        )
        state = "active" if v["active"] else f"revoked by {v['revoked_by']}: {v['revoke_reason']}"
        table.add_row(str(v["id"]), what, v["reason"], v["approved_by"], state)
    out.print(table)
