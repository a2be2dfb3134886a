"""`evidence custody`: one item's log, a search across the chain, and the whole chain verified."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.console import emit, err, out
from cli.wiring import in_database, parse_time, reading
from evidence import custody, items
from evidence.custody_verify import verify as verify_log
from evidence.errors import CustodyBroken

app = typer.Typer(help="Chain of custody: per-item log, search and whole-chain verification.", no_args_is_help=True)


@app.command("log")
def custody_log(item_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The custody events of one item, oldest first."""

    def read(session) -> list[dict]:
        items.get_item(session, item_id)
        return [custody.as_dict(e) for e in custody.log_for(session, item_id)]

    _print_events(in_database(read), as_json)


@app.command("events")
def custody_events(
    kind: Annotated[str | None, typer.Option(help="Event kind, e.g. access_denied")] = None,
    user: Annotated[str | None, typer.Option(help="Username: their acts through the API")] = None,
    item: Annotated[int | None, typer.Option(help="Item id")] = None,
    case: Annotated[int | None, typer.Option(help="Case id")] = None,
    since: Annotated[str | None, typer.Option("--from", help="At or after (ISO 8601; no zone: the station's)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before (ISO 8601)")] = None,
    after: Annotated[int, typer.Option(help="Only events after this sequence number (paging)")] = 0,
    limit: Annotated[int, typer.Option(help=f"At most this many events (up to {custody.MAX_PAGE})")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Search custody events across the whole system, oldest first."""
    bounds = (parse_time(since) if since else None, parse_time(until) if until else None)

    def read(session) -> tuple[list[dict], int | None]:
        found, last = custody.search(
            session,
            kind=kind,
            user=user,
            item_id=item,
            case_id=case,
            since=bounds[0],
            until=bounds[1],
            after=after,
            limit=limit,
        )
        return [custody.as_dict(e) for e in found], last

    events, last = in_database(read)
    _print_events(events, as_json)
    if last is not None:
        err.print(f"more events follow: --after {last}")


def _print_events(events: list[dict], as_json: bool) -> None:
    for ev in events:
        if as_json:
            emit(ev)
        else:
            out.print(
                f"{ev['seq']:>6} {ev['occurred_at']} {ev['kind']:<18} {ev['outcome']:<8} "
                f"{ev['tool'] or ''} {json.dumps(ev['details'], ensure_ascii=False)}",
                markup=False,
            )


@app.command("verify")
def custody_verify() -> None:
    """Check the whole hash chain; exit 0 when intact, else name the first bad event."""
    report = reading(verify_log)
    if report.ok:
        out.print(f"custody chain intact: {report.checked} events, head {report.head_hash}")
        return
    raise CustodyBroken(
        f"custody chain BROKEN at event {report.bad_seq}: {report.reason} ({report.checked} events verified before it)"
    )
