"""Legal holds on an item or a whole case (supervisors of its unit): place with a reason, release with one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api import guard
from api.deps import DENIED, NO_NUL, ClientDep, CurrentUser, IdPath, ServicesDep
from evidence import holds

router = APIRouter(prefix="/api/v1", tags=["holds"])


class HoldIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500, pattern=NO_NUL)


class HoldOut(BaseModel):
    id: int
    item_id: int | None
    case_id: int | None
    case_number: str | None
    reason: str
    placed_by: str
    placed_at: str
    released_by: str | None
    released_at: str | None
    release_reason: str | None


Reason = Annotated[str, Query(min_length=3, max_length=500, description="why the hold is released")]
RESPONSES = {**DENIED, 409: {}, 422: {}}


@router.post("/items/{item_id}/hold", response_model=HoldOut, status_code=201, responses=RESPONSES)
def hold_item(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: IdPath, body: HoldIn) -> HoldOut:
    """Place a legal hold on one recording: it is never expired or purged until released (a custody event)."""
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return HoldOut(
        **guard.run(svc, who, client, lambda s: holds.hold_item_for(s, who, item_id, body.reason, agent, rules))
    )


@router.delete("/items/{item_id}/hold", response_model=HoldOut, responses=RESPONSES)
def release_item(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: IdPath, reason: Reason) -> HoldOut:
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return HoldOut(
        **guard.run(svc, who, client, lambda s: holds.release_item_for(s, who, item_id, reason, agent, rules))
    )


@router.post("/cases/{case_id}/hold", response_model=HoldOut, status_code=201, responses=RESPONSES)
def hold_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, body: HoldIn) -> HoldOut:
    """Place a legal hold on a whole case: every recording linked to it is kept until released."""
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return HoldOut(
        **guard.run(svc, who, client, lambda s: holds.hold_case_for(s, who, case_id, body.reason, agent, rules))
    )


@router.delete("/cases/{case_id}/hold", response_model=HoldOut, responses=RESPONSES)
def release_case(svc: ServicesDep, who: CurrentUser, client: ClientDep, case_id: IdPath, reason: Reason) -> HoldOut:
    agent, rules = guard.agent_of(who, client), svc.settings.retention
    return HoldOut(
        **guard.run(svc, who, client, lambda s: holds.release_case_for(s, who, case_id, reason, agent, rules))
    )
