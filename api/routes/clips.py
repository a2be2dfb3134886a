"""Evidence clips: request a time range of an item; the worker cuts it from the original."""

from __future__ import annotations

import json

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import guard
from api.deps import ClientDep, CurrentUser, IdPath, ServicesDep
from evidence import clips
from evidence.models import Job

router = APIRouter(prefix="/api/v1", tags=["clips"])


class ClipIn(BaseModel):
    # strict: JSON numbers only (an integer is a number of seconds too); `true` or "1" is refused, not
    # taken as 1.0 s, and NaN/Infinity (which Python's JSON parser lets through) are refused
    start_s: float = Field(
        ge=0, strict=True, allow_inf_nan=False, description="in point, seconds from the start of the recording"
    )
    end_s: float = Field(
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="out point, seconds from the start of the recording (at least one frame "
        "after start_s, at most the recording's duration)",
    )
    case_id: int = Field(strict=True, description="the case the clip is linked to")


class ClipOut(BaseModel):
    clip_request_id: int
    source_item_id: int
    start_s: float
    end_s: float
    case_id: int
    status: str  # queued | running | done | failed
    item_id: int | None = None
    cut_start_s: float | None = Field(None, description="where the clip was cut: the first frame at or after start_s")
    cut_end_s: float | None = Field(None, description="the end of the clip's last frame")
    error: str | None = None


def _out(job: Job) -> ClipOut:
    request = json.loads(job.payload or "{}")
    return ClipOut(
        clip_request_id=job.id,
        source_item_id=job.item_id,
        start_s=request["start_s"],
        end_s=request["end_s"],
        case_id=request["case_id"],
        status=job.state,
        item_id=request.get("result_item_id"),
        cut_start_s=request.get("cut_start_s"),
        cut_end_s=request.get("cut_end_s"),
        error=job.last_error if job.state == "failed" else None,
    )


@router.post(
    "/items/{item_id}/clips", response_model=ClipOut, status_code=202, responses={401: {}, 403: {}, 404: {}, 422: {}}
)
def request_clip(svc: ServicesDep, who: CurrentUser, client: ClientDep, item_id: int, body: ClipIn) -> ClipOut:
    """Queue a clip of [start_s, end_s) cut from the original; it becomes a new item linked to the case."""
    agent = guard.agent_of(who, client)
    return _out(
        guard.run(
            svc, who, client, lambda s: clips.request(s, who, item_id, body.start_s, body.end_s, body.case_id, agent)
        )
    )


@router.get("/clips/{clip_request_id}", response_model=ClipOut, responses={401: {}, 404: {}})
def clip_status(svc: ServicesDep, who: CurrentUser, client: ClientDep, clip_request_id: IdPath) -> ClipOut:
    """Where a clip request is: queued, running, done (with its item and cut points) or failed."""
    return _out(guard.run(svc, who, client, lambda s: clips.request_for(s, who, clip_request_id), svc.reads))
