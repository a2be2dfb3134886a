"""Case files: open, list, view, close; assign reviewers; link and unlink footage."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from api import guard
from api.deps import NO_NUL, ClientDep, CurrentUser, IdPath, IdQuery, ServicesDep
from api.routes.items import CustodyEventOut
from evidence import access, cases, custody
from evidence.access import Action, CaseAction
from evidence.items import MAX_ID
from evidence.models import Case
from evidence.unit_of_work import transaction

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
DENIED = {401: {}, 403: {}, 404: {}}


class CaseIn(BaseModel):
    number: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    title: str = Field(min_length=1, max_length=500, pattern=NO_NUL)


class CasePatch(BaseModel):
    status: Literal["open", "closed"] | None = None
    title: str | None = Field(None, min_length=1, max_length=500, pattern=NO_NUL)


class CaseOut(BaseModel):
    id: int
    number: str
    title: str
    unit: str
    status: str
    created_by: str
    created_at: str
    reviewers: list[str]
    item_ids: list[int]


class ReviewerIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)


class LinkIn(BaseModel):
    item_id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(min_length=3, max_length=500, pattern=NO_NUL)


def _out(case_id: int, svc) -> CaseOut:
    with transaction(svc.reads) as session:
        return CaseOut(**cases.case_view(session, cases.get_case(session, case_id)))


@router.post("", response_model=CaseOut, status_code=201, responses={401: {}, 403: {}, 409: {}, 422: {}})
def open_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, body: CaseIn) -> CaseOut:
    """Open a case in your own unit (reviewers and supervisors)."""
    guard.enforce(svc, who, client, access.decide_open_case(who), "open_case")
    with transaction(svc.sessions) as session:
        case_id = cases.open_case(
            session, body.number, body.title, who.unit, who.username, guard.agent_of(who, client)
        ).id
    return _out(case_id, svc)


@router.get("", response_model=list[CaseOut], responses={401: {}})
def list_cases(
    svc: ServicesDep,
    who: CurrentUser,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: IdQuery = None,
) -> list[CaseOut]:
    query = select(Case).where(access.visible_cases(who)).order_by(Case.id).limit(limit)
    if status:
        query = query.where(Case.status == status)
    if after is not None:  # the id of the last case of the previous page
        query = query.where(Case.id > after)
    with transaction(svc.reads) as session:
        return [CaseOut(**cases.case_view(session, c)) for c in session.scalars(query)]


@router.get("/{case_id}", response_model=CaseOut, responses=DENIED)
def get_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath) -> CaseOut:
    guard.case(svc, who, client, case_id, CaseAction.VIEW)
    return _out(case_id, svc)


@router.patch("/{case_id}", response_model=CaseOut, responses={**DENIED, 422: {}})
def update_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: CasePatch) -> CaseOut:
    """Close or reopen a case, or retitle it (a supervisor of its unit)."""
    guard.case(svc, who, client, case_id, CaseAction.MANAGE)
    with transaction(svc.sessions) as session:
        cases.update_case(
            session, cases.get_case(session, case_id), guard.agent_of(who, client), status=body.status, title=body.title
        )
    return _out(case_id, svc)


@router.get("/{case_id}/custody", response_model=list[CustodyEventOut], responses=DENIED)
def case_custody(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath) -> list[CustodyEventOut]:
    guard.case(svc, who, client, case_id, CaseAction.VIEW)
    with transaction(svc.reads) as session:
        return [CustodyEventOut(**custody.as_dict(e)) for e in custody.log_for_case(session, case_id)]


@router.post("/{case_id}/reviewers", response_model=CaseOut, responses={**DENIED, 409: {}, 422: {}})
def assign_reviewer(
    svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: ReviewerIn
) -> CaseOut:
    """Assign a reviewer (of any unit) to the case: they may then review its footage."""
    guard.case(svc, who, client, case_id, CaseAction.MANAGE)
    with transaction(svc.sessions) as session:
        cases.assign_reviewer(
            session, cases.get_case(session, case_id), body.username, who.username, guard.agent_of(who, client)
        )
    return _out(case_id, svc)


@router.post("/{case_id}/items", response_model=CaseOut, status_code=201, responses={**DENIED, 409: {}, 422: {}})
def link_item(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: LinkIn) -> CaseOut:
    """Link footage to the case, with a reason: a custody event on both."""
    guard.case(svc, who, client, case_id, CaseAction.LINK)
    item = guard.item(svc, who, client, body.item_id, Action.CURATE)
    with transaction(svc.sessions) as session:
        cases.link(
            session, cases.get_case(session, case_id), item, body.reason, who.username, guard.agent_of(who, client)
        )
    return _out(case_id, svc)


@router.delete("/{case_id}/items/{item_id}", status_code=204, responses={**DENIED, 422: {}})
def unlink_item(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    case_id: IdPath,
    item_id: IdPath,
    reason: Annotated[str, Query(min_length=3, max_length=500)],
) -> Response:
    guard.case(svc, who, client, case_id, CaseAction.LINK)
    item = guard.item(svc, who, client, item_id, Action.VIEW_METADATA)
    with transaction(svc.sessions) as session:
        cases.unlink(session, cases.get_case(session, case_id), item, reason, who.username, guard.agent_of(who, client))
    return Response(status_code=204)
