"""Durable jobs: deferred work recorded in the database so a restart resumes it.

Each kind of job has one ``JobSpec`` here: its typed payload, the pipeline step after it, and
whether its failure marks the item. ``ingest/registry.py`` binds a handler to each kind and checks
the whole at start-up. A job key ``{item}:{kind}`` makes enqueueing idempotent.
"""

from __future__ import annotations

import enum
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from evidence import retries
from evidence.errors import InvalidJobPayload
from evidence.models import Job, JobState, utcnow


class JobKind(str, enum.Enum):
    PROBE = "probe"
    PROXY = "proxy"
    CLIP = "clip"
    EXPORT = "export"  # a case's job: no item


class Payload(BaseModel):
    """What a job carries besides its item; stored as JSON in ``jobs.payload``."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Nothing(Payload):
    """The item is the whole job (probe, proxy)."""


class ClipRequest(Payload):
    """Cut ``[start_s, end_s)`` from the item's original and link the clip to ``case_id``."""

    start_s: float
    end_s: float
    case_id: int
    requested_by: str
    agent: str
    # written by the worker once the clip is stored
    result_item_id: int | None = None
    cut_start_s: float | None = None
    cut_end_s: float | None = None


class ExportRequest(Payload):
    """Make the package of export ``export_id`` (evidence/export.py); the job has no item."""

    export_id: int


@dataclass(frozen=True)
class JobSpec:
    """One kind of job: what it carries, what comes after it, and what its failure means."""

    payload: type[Payload]
    then: JobKind | None = None
    marks_item_on_failure: bool = True


FIRST_JOB = JobKind.PROBE
SPECS: dict[JobKind, JobSpec] = {
    JobKind.PROBE: JobSpec(Nothing, then=JobKind.PROXY),
    JobKind.PROXY: JobSpec(Nothing),
    # a failed clip says nothing about its source item
    JobKind.CLIP: JobSpec(ClipRequest, marks_item_on_failure=False),
    JobKind.EXPORT: JobSpec(ExportRequest, marks_item_on_failure=False),
}


def payload_of(job: Job) -> Payload:
    """The job's payload, parsed into its kind's type; InvalidJobPayload when it does not fit."""
    try:
        spec = SPECS[JobKind(job.kind)]
        return spec.payload.model_validate_json(job.payload or "{}")
    except (ValueError, KeyError, ValidationError) as exc:
        raise InvalidJobPayload(f"job {job.id} ({job.kind}): payload does not parse: {exc}") from exc


def enqueue(session: Session, item_id: int, kind: JobKind) -> Job:
    """Queue ``kind`` for ``item_id`` unless it is already queued or done."""
    key = f"{item_id}:{kind.value}"
    existing = session.scalars(select(Job).where(Job.key == key)).first()
    if existing is not None:
        return existing
    job = Job(key=key, kind=kind.value, item_id=item_id, state=JobState.QUEUED.value, attempts=0, run_after=utcnow())
    session.add(job)
    session.flush()
    return job


def enqueue_with_payload(session: Session, item_id: int, kind: JobKind, payload: Payload | Mapping[str, Any]) -> Job:
    """Queue a job that carries its own parameters (checked against ``kind``'s type); each request is its own job."""
    wanted = SPECS[kind].payload
    try:
        typed = payload if isinstance(payload, wanted) else wanted.model_validate(payload)
    except ValidationError as exc:
        raise InvalidJobPayload(f"{kind.value} job: {exc}") from exc
    job = Job(
        key=f"{item_id}:{kind.value}:{uuid.uuid4().hex}",
        kind=kind.value,
        item_id=item_id,
        state=JobState.QUEUED.value,
        attempts=0,
        run_after=utcnow(),
        payload=typed.model_dump_json(exclude_none=True),
    )
    session.add(job)
    session.flush()
    return job


def enqueue_export(session: Session, export_id: int) -> Job:
    """Queue the making of export ``export_id``: a job of no item."""
    job = Job(
        key=f"export:{export_id}",
        kind=JobKind.EXPORT.value,
        item_id=None,
        state=JobState.QUEUED.value,
        attempts=0,
        run_after=utcnow(),
        payload=ExportRequest(export_id=export_id).model_dump_json(),
    )
    session.add(job)
    session.flush()
    return job


def claim(session: Session, owner: str, lease_s: float, item_ids: list[int] | None = None) -> Job | None:
    """Take the oldest runnable job (or one whose lease ran out) for ``owner``."""
    now = utcnow()
    runnable = or_(
        (Job.state == JobState.QUEUED.value) & (Job.run_after <= now),
        (Job.state == JobState.RUNNING.value) & (Job.lease_until < now),
    )
    query = select(Job.id).where(runnable).order_by(Job.id).limit(5)
    if item_ids is not None:
        query = query.where(Job.item_id.in_(item_ids))
    for job_id in session.scalars(query).all():
        taken = cast(
            CursorResult[Any],
            session.execute(
                update(Job)
                .where(Job.id == job_id, runnable)
                .values(
                    state=JobState.RUNNING.value,
                    owner=owner,
                    lease_until=now + timedelta(seconds=lease_s),
                    attempts=Job.attempts + 1,
                )
            ),
        )
        if taken.rowcount == 1:
            return session.get(Job, job_id, populate_existing=True)
    return None


def item_of(job: Job) -> int:
    """The item an item's job works on; InvalidJobPayload for a case's job (an export) asked as one."""
    if job.item_id is None:
        raise InvalidJobPayload(f"job {job.id} ({job.kind}) belongs to no item")
    return job.item_id


def complete(session: Session, job: Job, advance: bool = True, payload: Payload | None = None) -> None:
    """Mark ``job`` done (storing ``payload`` when given) and, when ``advance``, queue its kind's next step."""
    if payload is not None:
        job.payload = payload.model_dump_json(exclude_none=True)
    then = SPECS[JobKind(job.kind)].then
    if advance and then is not None:
        enqueue(session, item_of(job), then)
    job.state = JobState.DONE.value
    job.finished_at = utcnow()
    job.lease_until = None
    job.last_error = None


def retry_later(session: Session, job: Job, error: str, max_attempts: int) -> bool:
    """Put the job back after the ``retries.JOB`` delay; returns False when attempts are used up."""
    job.last_error = error[-4000:]
    job.lease_until = None
    if job.attempts >= max_attempts:
        job.state = JobState.FAILED.value
        job.finished_at = utcnow()
        return False
    job.state = JobState.QUEUED.value
    job.run_after = utcnow() + timedelta(seconds=retries.JOB.delay(job.attempts))
    return True


def give_up(session: Session, job: Job, error: str) -> None:
    job.state = JobState.FAILED.value
    job.last_error = error[-4000:]
    job.lease_until = None
    job.finished_at = utcnow()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_owners(session: Session, host: str) -> int:
    """Requeue running jobs held by processes on this host that no longer exist (killed)."""
    freed = 0
    for job in session.scalars(select(Job).where(Job.state == JobState.RUNNING.value)):
        owner_host, _, pid = (job.owner or "").rpartition(":")
        if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
            job.state = JobState.QUEUED.value
            job.lease_until = None
            job.run_after = utcnow()
            freed += 1
    return freed
