"""Attributing unattributed footage to a recorder (a supervisor of the recorder's unit)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api import guard
from api.deps import DENIED, ClientDep, CurrentUser, ServicesDep
from api.routes.items import ItemOut
from evidence import attribution
from evidence.items import item_view

router = APIRouter(prefix="/api/v1/items", tags=["items"])


class AttributionIn(BaseModel):
    device: str = Field(min_length=1, max_length=64, description="serial of the recorder it came from")
    reason: str = Field(min_length=3, max_length=500, description="why it is this recorder's footage")


@router.post("/{item_id}/attribution", response_model=ItemOut, responses={**DENIED, 409: {}, 422: {}})
def attribute(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: int, body: AttributionIn) -> ItemOut:
    """Attribute an unattributed item to the recorder ``device``: its officer and unit at the recording
    time become the item's, and the upload deadline is judged. A custody event; once only (409 after)."""
    agent = guard.agent_of(who, client)
    hours = svc.settings.deadline_hours

    def attribute(session: Session) -> dict:
        item = attribution.attribute(
            session, who, item_id, body.device, reason=body.reason, agent=agent, deadline_hours=hours
        )
        return item_view(item)

    return ItemOut(**guard.run(svc, who, client, attribute))
