"""Durable jobs: deferred work recorded in the database so a restart resumes it.

Each kind of job has one ``JobSpec`` here: its typed payload, its priority, the pipeline step after
it, and whether its failure marks the item. ``ingest/registry.py`` binds a handler to each kind and
checks the whole at start-up. A job key ``{item}:{kind}`` makes enqueueing idempotent.

Many workers share the table: ``claim`` takes the most urgent job (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) under a fresh lease token and a short lease that ``heartbeat`` renews; every write of
an outcome is fenced (``fence``: still running, still our token) in the same transaction as the
handler's own writes, so a worker whose lease lapsed and was taken over writes nothing
(docs/architecture.md, "The job queue").
"""

from __future__ import annotations

import enum
import os
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from evidence import custody, item_status, retries
from evidence.errors import Conflict, InvalidInput, InvalidJobPayload, LeaseLost, NotFound
from evidence.items import iso
from evidence.models import Export, ExportState, Item, ItemStatus, Job, JobState, utcnow


class JobKind(str, enum.Enum):
    PROBE = "probe"
    PROXY = "proxy"
    CLIP = "clip"
    EXPORT = "export"  # a case's job: no item
    FIXITY = "fixity"  # a batch of items re-read against their hashes: no single item
    SWEEP = "sweep"  # the day's retention sweep (and object lock pass): no item


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


FIXITY_BATCH_MAX = 1000


class FixityBatch(Payload):
    """Re-read these items' stored objects against their recorded hash and size (evidence/fixity.py)."""

    item_ids: list[Annotated[int, Field(gt=0)]] = Field(min_length=1, max_length=FIXITY_BATCH_MAX)


class SweepRequest(Payload):
    """The retention sweep of one UTC day (evidence/sweeper.py): one a day, whichever station asks."""

    day: date


@dataclass(frozen=True)
class JobSpec:
    """One kind of job: what it carries, what comes after it, and what its failure means."""

    payload: type[Payload]
    # smaller is claimed first: a reviewer waiting (clip, export) before the backlog (probe, proxy)
    priority: int = 20
    then: JobKind | None = None
    marks_item_on_failure: bool = True
    # what else a job that will not be retried again marks failed (in the same transaction)
    on_give_up: Callable[[Session, Job, str], None] | None = None


def _export_failed(session: Session, job: Job, error: str) -> None:
    """A case export whose job gave up is failed too, not left 'running' for ever."""
    request = ExportRequest.model_validate_json(job.payload or "{}")
    row = session.get(Export, request.export_id)
    if row is not None and row.state != ExportState.DONE.value:
        row.state, row.error, row.finished_at = ExportState.FAILED.value, error[-4000:], utcnow()


# Priorities (jobs.priority; smaller first, then oldest). Fixity and sweep, when they run as jobs,
# go last; migration 0011 gives existing rows these numbers.
REVIEWER_WAITING = 10
BACKLOG = 20
AUDIT = 30
HOUSEKEEPING = 40

FIRST_JOB = JobKind.PROBE
SPECS: dict[JobKind, JobSpec] = {
    JobKind.PROBE: JobSpec(Nothing, priority=BACKLOG, then=JobKind.PROXY),
    JobKind.PROXY: JobSpec(Nothing, priority=BACKLOG),
    # a failed clip says nothing about its source item
    JobKind.CLIP: JobSpec(ClipRequest, priority=REVIEWER_WAITING, marks_item_on_failure=False),
    JobKind.EXPORT: JobSpec(
        ExportRequest, priority=REVIEWER_WAITING, marks_item_on_failure=False, on_give_up=_export_failed
    ),
    JobKind.FIXITY: JobSpec(FixityBatch, priority=AUDIT, marks_item_on_failure=False),
    JobKind.SWEEP: JobSpec(SweepRequest, priority=HOUSEKEEPING, marks_item_on_failure=False),
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
    return _add(session, key, kind, item_id)


def _add(session: Session, key: str, kind: JobKind, item_id: int | None, payload: Payload | None = None) -> Job:
    """A new queued job of ``kind``, runnable now, at its kind's priority."""
    job = Job(
        key=key,
        kind=kind.value,
        item_id=item_id,
        state=JobState.QUEUED.value,
        attempts=0,
        run_after=utcnow(),
        priority=SPECS[kind].priority,
        payload=None if payload is None else payload.model_dump_json(exclude_none=True),
    )
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
    return _add(session, f"{item_id}:{kind.value}:{uuid.uuid4().hex}", kind, item_id, typed)


def enqueue_export(session: Session, export_id: int) -> Job:
    """Queue the making of export ``export_id``: a job of no item."""
    return _add(session, f"export:{export_id}", JobKind.EXPORT, None, ExportRequest(export_id=export_id))


def enqueue_fixity(session: Session, item_ids: list[int]) -> Job:
    """Queue a fixity check of ``item_ids`` for any worker (the rolling pass's planner sizes the batches)."""
    return _add(session, f"fixity:{uuid.uuid4().hex}", JobKind.FIXITY, None, FixityBatch(item_ids=item_ids))


def enqueue_sweep(session: Session, day: date) -> Job:
    """Queue the retention sweep of ``day`` unless some station already did: one sweep job a day."""
    key = f"sweep:{day.isoformat()}"
    existing = session.scalars(select(Job).where(Job.key == key)).first()
    if existing is not None:
        return existing
    try:
        with session.begin_nested():  # another station's insert of the same day may win the race
            return _add(session, key, JobKind.SWEEP, None, SweepRequest(day=day))
    except IntegrityError:
        return session.scalars(select(Job).where(Job.key == key)).one()


def fixity_in_hand(session: Session) -> tuple[int, set[int]]:
    """Fixity jobs queued or running, and the items they will check (the planner does not queue those again)."""
    payloads = session.scalars(
        select(Job.payload).where(
            Job.kind == JobKind.FIXITY.value, Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value])
        )
    ).all()
    items: set[int] = set()
    for payload in payloads:
        try:
            items.update(FixityBatch.model_validate_json(payload or "{}").item_ids)
        except ValidationError:
            continue  # a broken payload is its job's problem (parked when claimed), not the planner's
    return len(payloads), items


def _runnable(now: datetime) -> ColumnElement[bool]:
    """Queued and due, or running under a lease that lapsed (its owner died, on whatever host)."""
    return or_(
        (Job.state == JobState.QUEUED.value) & (Job.run_after <= now),
        (Job.state == JobState.RUNNING.value) & (Job.lease_until < now),
    )


def claim(
    session: Session,
    owner: str,
    lease_s: float,
    item_ids: list[int] | None = None,
    kinds: Collection[JobKind] | None = None,
) -> Job | None:
    """Take the most urgent runnable job (smallest priority, then oldest) for ``owner`` under a new lease token.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers each lock a different
    row instead of queueing behind the same one. SQLite (writers serialised by BEGIN IMMEDIATE): a
    conditional update of the first candidate that is still runnable.
    """
    now = utcnow()
    runnable = _runnable(now)
    query = select(Job.id).where(runnable).order_by(Job.priority, Job.id)
    if item_ids is not None:
        query = query.where(Job.item_id.in_(item_ids))
    if kinds is not None:
        query = query.where(Job.kind.in_([k.value for k in kinds]))
    token = uuid.uuid4().hex
    taking = {
        "state": JobState.RUNNING.value,
        "owner": owner,
        "lease_until": now + timedelta(seconds=lease_s),
        "lease_token": token,
        "heartbeat_at": now,
        "attempts": Job.attempts + 1,
    }
    if session.get_bind().dialect.name == "postgresql":
        job_id = session.scalars(query.limit(1).with_for_update(skip_locked=True)).first()
        if job_id is None:
            return None
        session.execute(update(Job).where(Job.id == job_id).values(**taking))
        return session.get(Job, job_id, populate_existing=True)
    for job_id in session.scalars(query.limit(5)).all():
        taken = cast(CursorResult[Any], session.execute(update(Job).where(Job.id == job_id, runnable).values(**taking)))
        if taken.rowcount == 1:
            return session.get(Job, job_id, populate_existing=True)
    return None


def fence(session: Session, job: Job) -> Job:
    """The job's row, locked, provided ``job`` (as claimed by this worker) still holds its lease.

    Call it first in the unit of work that records a job's result, with the job the worker claimed
    (not a row of this session): when another worker has since taken the job (its token differs),
    or it is no longer running, LeaseLost is raised and the whole unit of work rolls back. The row
    lock (PostgreSQL) keeps a claim from taking the job over until this transaction ends.
    """
    held = session.execute(select(Job.state, Job.lease_token).where(Job.id == job.id).with_for_update()).first()
    if held is None:
        raise LeaseLost(f"job {job.id} ({job.kind}): lease lost (the job is gone)")
    ours = job.lease_token is not None and held.lease_token == job.lease_token
    if held.state != JobState.RUNNING.value or not ours:
        why = f"now {held.state}" + ("" if ours else ", taken over or released")
        raise LeaseLost(f"job {job.id} ({job.kind}): lease lost ({why})")
    row = session.get(Job, job.id)
    assert row is not None  # the row was just read
    return row


def fence_row(session: Session, job: Job) -> Job:
    """The session's row of ``job`` (already fenced in this unit of work)."""
    row = session.get(Job, job.id)
    if row is None:
        raise LeaseLost(f"job {job.id} ({job.kind}): the job is gone")
    return row


def heartbeat(session: Session, job: Job, lease_s: float) -> bool:
    """Extend this worker's lease on ``job`` by ``lease_s`` from now; False when the lease is no longer ours."""
    now = utcnow()
    renewed = cast(
        CursorResult[Any],
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == JobState.RUNNING.value, Job.lease_token == job.lease_token)
            .values(lease_until=now + timedelta(seconds=lease_s), heartbeat_at=now)
        ),
    )
    return renewed.rowcount == 1


def release(session: Session, job: Job) -> None:
    """Hand a job this worker holds back to the queue, runnable at once (a worker stopping): not an attempt."""
    row = fence(session, job)
    row.state, row.lease_until, row.lease_token, row.owner = JobState.QUEUED.value, None, None, None
    row.run_after = utcnow()
    row.attempts = max(row.attempts - 1, 0)


def item_of(job: Job) -> int:
    """The item an item's job works on; InvalidJobPayload for a case's job (an export) asked as one."""
    if job.item_id is None:
        raise InvalidJobPayload(f"job {job.id} ({job.kind}) belongs to no item")
    return job.item_id


def complete(session: Session, job: Job, advance: bool = True, payload: Payload | None = None) -> None:
    """Mark ``job`` done (storing ``payload`` when given) and, when ``advance``, queue its kind's next step.

    Fenced: LeaseLost (rolling back the caller's unit of work) when this worker no longer holds the job.
    """
    row = fence(session, job)
    if payload is not None:
        row.payload = payload.model_dump_json(exclude_none=True)
    then = SPECS[JobKind(row.kind)].then
    if advance and then is not None:
        enqueue(session, item_of(row), then)
    row.state = JobState.DONE.value
    row.finished_at = utcnow()
    row.lease_until = row.lease_token = None
    row.last_error = None


def retry_later(session: Session, job: Job, error: str, max_attempts: int) -> bool:
    """Put the job back after the ``retries.JOB`` delay; returns False when attempts are used up (parked failed).

    Fenced like ``complete``.
    """
    row = fence(session, job)
    row.last_error = error[-4000:]
    row.lease_until = row.lease_token = None
    if row.attempts >= max_attempts:
        row.state = JobState.FAILED.value
        row.finished_at = utcnow()
        return False
    row.state = JobState.QUEUED.value
    row.run_after = utcnow() + timedelta(seconds=retries.JOB.delay(row.attempts))
    return True


def give_up(session: Session, job: Job, error: str) -> None:
    """Park the job as failed with its error (fenced like ``complete``)."""
    row = fence(session, job)
    row.state = JobState.FAILED.value
    row.last_error = error[-4000:]
    row.lease_until = row.lease_token = None
    row.finished_at = utcnow()


def list_jobs(
    session: Session, state: JobState | None = None, kind: JobKind | None = None, limit: int = 100
) -> list[Job]:
    """Jobs, most urgent and newest first within a state; filtered by state and kind."""
    query = select(Job).order_by(Job.priority, Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state.value)
    if kind is not None:
        query = query.where(Job.kind == kind.value)
    return list(session.scalars(query))


def job_view(job: Job) -> dict[str, Any]:
    """A job as plain JSON values (the CLI's --json and its table)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "item_id": job.item_id,
        "priority": job.priority,
        "attempts": job.attempts,
        "run_after": iso(job.run_after),
        "owner": job.owner,
        "lease_until": iso(job.lease_until),
        "heartbeat_at": iso(job.heartbeat_at),
        "last_error": job.last_error,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
    }


def parse_kinds(text: str) -> list[JobKind]:
    """``probe,proxy`` into kinds; InvalidInput naming the known kinds when one is not."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in {k.value for k in JobKind}]
    if unknown or not names:
        known = ", ".join(k.value for k in JobKind)
        raise InvalidInput(f"unknown job kind(s) {', '.join(unknown) or '(none given)'}: the kinds are {known}")
    return [JobKind(n) for n in names]


def requeue(session: Session, job_id: int, by: str, agent: str) -> Job:
    """Put a failed job back in the queue, its attempts reset; a custody event when it belongs to an item.

    Only a failed job can be retried (Conflict otherwise): a running one may still finish.
    """
    row = session.get(Job, job_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no job {job_id}")
    if row.state != JobState.FAILED.value:
        raise Conflict(f"job {job_id} is {row.state}: only a failed job can be retried")
    error = row.last_error
    row.state, row.attempts, row.run_after = JobState.QUEUED.value, 0, utcnow()
    row.finished_at = row.lease_until = row.lease_token = row.owner = None
    if row.item_id is not None:
        details: dict[str, Any] = {"job_id": row.id, "job": row.kind, "requested_by": by, "last_error": error}
        item = session.get(Item, row.item_id, with_for_update=True)
        # the media verdict this very job's failure gave is reopened: its success may now make the item ready
        if (
            item is not None
            and SPECS[JobKind(row.kind)].marks_item_on_failure
            and item.status == ItemStatus.MEDIA_ERROR.value
            and (item.error or "").startswith(f"{row.kind}: ")
        ):
            details["reopened_media_error"] = item.error
            item_status.move(item, ItemStatus.STORED)
        custody.append(session, custody.EventKind.JOB_REQUEUED, agent=agent, item_id=row.item_id, details=details)
    return row


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
            job.lease_until = job.lease_token = None
            job.run_after = utcnow()
            freed += 1
    return freed
