"""Durable jobs: deferred work recorded in the database so a restart resumes it.

The order of the pipeline lives here (``FIRST_JOB``, ``NEXT_JOB``); handlers
live in ``ingest/``. A job key ``{item}:{kind}`` makes enqueueing idempotent.
"""

from __future__ import annotations

import enum
import json
import os
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from evidence.models import Job, JobState, utcnow


class JobKind(str, enum.Enum):
    PROBE = "probe"
    PROXY = "proxy"
    CLIP = "clip"  # cut an evidence clip from an item's original (payload: range, case, requester)


FIRST_JOB = JobKind.PROBE
NEXT_JOB: dict[JobKind, JobKind | None] = {JobKind.PROBE: JobKind.PROXY, JobKind.PROXY: None, JobKind.CLIP: None}


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


def enqueue_with_payload(session: Session, item_id: int, kind: JobKind, payload: dict) -> Job:
    """Queue a job that carries its own parameters; each request is its own job."""
    job = Job(
        key=f"{item_id}:{kind.value}:{uuid.uuid4().hex}",
        kind=kind.value,
        item_id=item_id,
        state=JobState.QUEUED.value,
        attempts=0,
        run_after=utcnow(),
        payload=json.dumps(payload),
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
        taken = session.execute(
            update(Job)
            .where(Job.id == job_id, runnable)
            .values(
                state=JobState.RUNNING.value,
                owner=owner,
                lease_until=now + timedelta(seconds=lease_s),
                attempts=Job.attempts + 1,
            )
        )
        if taken.rowcount == 1:
            return session.get(Job, job_id, populate_existing=True)
    return None


def complete(session: Session, job: Job) -> None:
    job.state = JobState.DONE.value
    job.finished_at = utcnow()
    job.lease_until = None
    job.last_error = None


def retry_later(session: Session, job: Job, error: str, max_attempts: int) -> bool:
    """Put the job back with exponential backoff; returns False when attempts are used up."""
    job.last_error = error[-4000:]
    job.lease_until = None
    if job.attempts >= max_attempts:
        job.state = JobState.FAILED.value
        job.finished_at = utcnow()
        return False
    job.state = JobState.QUEUED.value
    job.run_after = utcnow() + timedelta(seconds=min(300, 2**job.attempts))
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
