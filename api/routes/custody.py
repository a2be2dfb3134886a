"""Custody events across the whole system: a search for auditors (all) and supervisors (their unit)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api import guard
from api.deps import ClientDep, CurrentUser, IdQuery, ServicesDep
from api.pages import decode_cursor, encode_cursor
from api.routes.items import CustodyEventOut
from evidence import access, custody
from evidence.custody import EventKind

router = APIRouter(prefix="/api/v1/custody", tags=["custody"])


class CustodyEventPage(BaseModel):
    events: list[CustodyEventOut]
    next_cursor: str | None


@router.get("/events", response_model=CustodyEventPage, responses={401: {}, 403: {}, 422: {}})
def search_events(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    kind: EventKind | None = None,
    user: Annotated[str | None, Query(max_length=64, description="username: acts through the API")] = None,
    item: IdQuery = None,
    case: IdQuery = None,
    since: Annotated[datetime | None, Query(alias="from", description="at or after, with a zone")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="before, with a zone")] = None,
    limit: Annotated[int, Query(ge=1, le=custody.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CustodyEventPage:
    """Custody events oldest first, filtered; ``next_cursor`` fetches the next page.

    Auditors search every event; supervisors the events of their unit's recordings and cases.
    """
    guard.enforce(svc, who, client, access.decide_custody_search(who), "search_custody")
    after = decode_cursor("seq", cursor) if cursor else 0

    def search(session: Session) -> tuple[list[dict[str, Any]], int | None]:
        return custody.search_visible(
            session,
            who,
            kind=kind and kind.value,
            user=user,
            item_id=item,
            case_id=case,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )

    events, last = guard.run(svc, who, client, search, svc.reads)
    return CustodyEventPage(
        events=[CustodyEventOut(**e) for e in events],
        next_cursor=None if last is None else encode_cursor("seq", last),
    )
