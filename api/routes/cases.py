"""Case files: open, list, view, close; assign reviewers; link and unlink footage."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api import guard
from api.deps import DENIED, NO_NUL, ClientDep, CurrentUser, IdPath, IdQuery, ServicesDep
from api.routes.items import CustodyEventOut
from evidence import cases
from evidence.items import MAX_ID

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


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


@router.post("", response_model=CaseOut, status_code=201, responses={401: {}, 403: {}, 409: {}, 422: {}})
def open_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, body: CaseIn) -> CaseOut:
    """Open a case in your own unit (reviewers and supervisors)."""
    agent = guard.agent_of(who, client)
    return CaseOut(**guard.run(svc, who, client, lambda s: cases.open_for(s, who, body.number, body.title, agent)))


@router.get("", response_model=list[CaseOut], responses={401: {}})
def list_cases(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: IdQuery = None,  # the id of the last case of the previous page
) -> list[CaseOut]:
    views = guard.run(svc, who, client, lambda s: cases.visible_page(s, who, status, limit, after), svc.reads)
    return [CaseOut(**v) for v in views]


@router.get("/{case_id}", response_model=CaseOut, responses=DENIED)
def get_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath) -> CaseOut:
    return CaseOut(**guard.run(svc, who, client, lambda s: cases.view_for(s, who, case_id), svc.reads))


@router.patch("/{case_id}", response_model=CaseOut, responses={**DENIED, 422: {}})
def update_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: CasePatch) -> CaseOut:
    """Close or reopen a case, or retitle it (a supervisor of its unit)."""
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return CaseOut(
        **guard.run(
            svc, who, client, lambda s: cases.update_for(s, who, case_id, agent, body.status, body.title, rules=rules)
        )
    )


@router.get("/{case_id}/custody", response_model=list[CustodyEventOut], responses=DENIED)
def case_custody(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath) -> list[CustodyEventOut]:
    events = guard.run(svc, who, client, lambda s: cases.log_for(s, who, case_id), svc.reads)
    return [CustodyEventOut(**e) for e in events]


@router.post("/{case_id}/reviewers", response_model=CaseOut, responses={**DENIED, 409: {}, 422: {}})
def assign_reviewer(
    svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: ReviewerIn
) -> CaseOut:
    """Assign a reviewer (of any unit) to the case: they may then review its footage."""
    agent = guard.agent_of(who, client)
    return CaseOut(**guard.run(svc, who, client, lambda s: cases.assign_for(s, who, case_id, body.username, agent)))


@router.post("/{case_id}/items", response_model=CaseOut, status_code=201, responses={**DENIED, 409: {}, 422: {}})
def link_item(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: LinkIn) -> CaseOut:
    """Link footage to the case, with a reason: a custody event on both."""
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return CaseOut(
        **guard.run(
            svc, who, client, lambda s: cases.link_for(s, who, case_id, body.item_id, body.reason, agent, rules=rules)
        )
    )


@router.delete("/{case_id}/items/{item_id}", status_code=204, responses={**DENIED, 422: {}})
def unlink_item(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    case_id: IdPath,
    item_id: IdPath,
    reason: Annotated[str, Query(min_length=3, max_length=500)],
) -> Response:
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    guard.run(svc, who, client, lambda s: cases.unlink_for(s, who, case_id, item_id, reason, agent, rules=rules))
    return Response(status_code=204)
