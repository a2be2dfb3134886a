"""Pages: searching the recordings one may see (grid or table), and one recording's page.

Reads go through evidence/ (item_search, item_detail) as the JSON API's do; the pages' acts are
calls to the JSON API from the page's script (static/item.js), so each is checked and logged there.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api import guard
from api.deps import ClientDep, IdPath, ServicesDep
from api.pages import decode_cursor, encode_cursor
from api.web.item_events import EVENT_LABELS
from api.web.render import N_, render
from api.web.signed_in import PageUser
from evidence import item_detail, item_search
from evidence.errors import InvalidInput
from evidence.models import ItemStatus

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 48
VIEWS = ("grid", "table")
Name = Annotated[str, Query(max_length=64)]

# what the status filter and the pages call each item status
STATUS_LABELS = {
    ItemStatus.STORED.value: N_("Stored, processing"),
    ItemStatus.READY.value: N_("Ready"),
    ItemStatus.MEDIA_ERROR.value: N_("Media error"),
    ItemStatus.EXPIRED.value: N_("Expired"),
    ItemStatus.PURGED.value: N_("Purged"),
}
JOB_STATES = {"queued": N_("Queued"), "running": N_("Cutting"), "done": N_("Done"), "failed": N_("Failed")}


def _day_start(day: str, zone: ZoneInfo, what: str, later: int = 0) -> datetime | None:
    """The start of a station-local day ``YYYY-MM-DD`` (``later`` days on), as an aware time."""
    if not day:
        return None
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"{what}: not a date (YYYY-MM-DD)") from None
    return datetime.combine(parsed + timedelta(days=later), time(), zone)


def _filter(args: dict[str, str], zone: ZoneInfo) -> item_search.ItemFilter:
    """The search form's fields as the API's filter (empty fields: no filter)."""
    status = args["status"] or None
    if status is not None and status not in STATUS_LABELS:
        raise InvalidInput(f"status: no status {status!r}")
    on_time = {"": None, "true": True, "false": False}.get(args["on_time"])
    if args["on_time"] not in ("", "true", "false"):
        raise InvalidInput("on_time: true or false")
    return item_search.ItemFilter(
        officer=args["officer"] or None,
        unit=args["unit"] or None,
        device=args["device"] or None,
        station=args["station"] or None,
        case=args["case"] or None,
        mark=args["mark"] or None,
        status=status,
        on_time=on_time,
        recorded_from=_day_start(args["recorded_from"], zone, "recorded_from"),
        recorded_to=_day_start(args["recorded_to"], zone, "recorded_to", later=1),  # the whole last day
    )


@router.get("/items")
def search_page(
    svc: ServicesDep,
    request: Request,
    who: PageUser,
    client: ClientDep,
    officer: Name = "",
    unit: Name = "",
    device: Name = "",
    station: Name = "",
    case: Name = "",
    mark: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    on_time: Annotated[str, Query(max_length=8)] = "",
    recorded_from: Annotated[str, Query(max_length=10)] = "",
    recorded_to: Annotated[str, Query(max_length=10)] = "",
    view: Annotated[str, Query(pattern="^(grid|table)$")] = "grid",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The recordings ``who`` may see, filtered by the form (every field a query parameter)."""
    args = {
        "officer": officer.strip(),
        "unit": unit.strip(),
        "device": device.strip(),
        "station": station.strip(),
        "case": case.strip(),
        "mark": mark.strip(),
        "status": status,
        "on_time": on_time,
        "recorded_from": recorded_from,
        "recorded_to": recorded_to,
    }
    kept = {k: v for k, v in args.items() if v}
    error, more = "", False
    found: list[item_search.Found] = []
    media: set[int] = set()
    try:
        wanted = _filter(args, svc.settings.zone)
        after = decode_cursor("id", cursor) if cursor else 0

        def read(session: Session) -> tuple[list[item_search.Found], bool, set[int]]:
            rows, further = item_search.page(session, who, wanted, PAGE_SIZE, after)
            return rows, further, item_detail.media_visible(session, who, [f.item for f in rows])

        found, more, media = guard.run(svc, who, client, read, svc.reads)
    except InvalidInput as exc:
        error = str(exc)
    next_url, paging = "", {"cursor": cursor} if cursor else {}
    if more and found:
        next_url = "/items?" + urlencode({**kept, "view": view, "cursor": encode_cursor("id", found[-1].item.id)})
    return render(
        request,
        "items.html",
        status=422 if error else 200,
        who=who,
        args=args,
        view=view,
        found=found,
        media=media,
        error=error,
        next_url=next_url,
        first_url=("/items?" + urlencode({**kept, "view": view})) if cursor else "",
        view_url={v: "/items?" + urlencode({**kept, "view": v, **paging}) for v in VIEWS},
        statuses=STATUS_LABELS,
        hms=hms,
    )


def hms(seconds: float | None) -> str:
    """A length of time as H:MM:SS (fractions of a second dropped); "—" when unknown."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment) if moment else None


@router.get("/items/{item_id}")
def item_page(svc: ServicesDep, request: Request, who: PageUser, client: ClientDep, item_id: IdPath) -> Response:
    """One recording: the player, its facts, deadline, custody log, cases, marks, clips and the acts
    its reader may do (a reader who may not see it gets the 404 page, and the refusal is logged)."""
    shown = guard.run(svc, who, client, lambda s: item_detail.detail(s, who, item_id), svc.reads)
    events = [{**e, "occurred": _parse(e["occurred_at"])} for e in shown.events or []]
    return render(
        request,
        "item.html",
        who=who,
        d=shown,
        item=shown.item,
        events=events if shown.events is not None else None,
        statuses=STATUS_LABELS,
        job_states=JOB_STATES,
        event_labels=EVENT_LABELS,
        hms=hms,
    )
