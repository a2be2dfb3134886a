"""The job queue for supervisors, auditors and admins: jobs by state and kind, and retrying a failed one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api import guard
from api.deps import ClientDep, CurrentUser, IdPath, ServicesDep
from evidence import access, jobs, unit_of_work
from evidence.jobs import JobKind
from evidence.models import Job, JobState

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobOut(BaseModel):
    id: int
    kind: str
    state: str  # queued | running | done | failed
    item_id: int | None  # None: a case's job (an export)
    priority: int  # smaller runs first
    attempts: int
    run_after: datetime
    owner: str | None
    lease_until: datetime | None
    heartbeat_at: datetime | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls.model_validate(job, from_attributes=True)


@router.get("", response_model=list[JobOut], responses={401: {}, 403: {}})
def list_jobs(
    svc: ServicesDep,
    who: CurrentUser,
    client: ClientDep,
    state: JobState | None = None,
    kind: JobKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """Jobs, filtered by state (``failed``: parked after their last attempt, with the error) and kind."""
    guard.enforce(svc, who, client, access.decide_list_jobs(who), "list_jobs")
    return unit_of_work.run(svc.reads, lambda s: [JobOut.of(j) for j in jobs.list_jobs(s, state, kind, limit)])


@router.post("/{job_id}/retry", response_model=JobOut, responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}})
def retry_job(svc: ServicesDep, who: CurrentUser, client: ClientDep, job_id: IdPath) -> JobOut:
    """Put a failed job back in the queue, its attempts reset (a custody event when it belongs to an item)."""
    guard.enforce(svc, who, client, access.decide_retry_job(who), "retry_job")
    agent = guard.agent_of(who, client)
    return unit_of_work.run(svc.sessions, lambda s: JobOut.of(jobs.requeue(s, job_id, who.username, agent)))
