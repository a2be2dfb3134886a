"""Attributing unattributed footage to a recorder (a supervisor of the recorder's unit)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import guard
from api.deps import ClientDep, CurrentUser, ServicesDep
from api.routes.items import DENIED, ItemOut
from evidence import access, attribution
from evidence.access import Action, Decision
from evidence.custody import EventKind, Outcome
from evidence.errors import Forbidden
from evidence.items import item_view
from evidence.unit_of_work import transaction, with_db_retry

router = APIRouter(prefix="/api/v1/items", tags=["items"])


class AttributionIn(BaseModel):
    device: str = Field(min_length=1, max_length=64, description="serial of the recorder it came from")
    reason: str = Field(min_length=3, max_length=500, description="why it is this recorder's footage")


@router.post("/{item_id}/attribution", response_model=ItemOut, responses={**DENIED, 409: {}, 422: {}})
def attribute(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: int, body: AttributionIn) -> ItemOut:
    """Attribute an unattributed item to the recorder ``device``: its officer and unit at the recording
    time become the item's, and the upload deadline is judged. A custody event; once only (409 after)."""
    guard.item(svc, who, client, item_id, Action.VIEW_METADATA)

    def write() -> dict | Decision:
        with transaction(svc.sessions) as session:
            plan = attribution.prepare(session, item_id, body.device)
            decision = access.decide_attribution(who, plan.assignment.unit)
            if not decision.allowed:
                return decision
            item = attribution.apply(
                session,
                plan,
                by=who.username,
                reason=body.reason.strip(),
                agent=guard.agent_of(who, client),
                deadline_hours=svc.settings.deadline_hours,
            )
            return item_view(item)

    done = with_db_retry(write)
    if isinstance(done, Decision):
        guard.record(
            svc,
            EventKind.ACCESS_DENIED,
            who,
            client,
            item_id=item_id,
            outcome=Outcome.FAILURE,
            action="attribute",
            device=body.device,
            reason=done.reason,
        )
        raise Forbidden(done.reason)
    return ItemOut(**done)
