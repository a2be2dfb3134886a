"""The job worker: claim a job, run its kind's handler, and retry or record a lasting failure.

A store or database outage or a tool timeout is retried with ``retries.JOB``'s backoff; any other
failure is permanent, and marks the item when the job's kind says a failure does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from evidence import custody, item_status, jobs, unit_of_work
from evidence.custody import EventKind, Outcome
from evidence.errors import EvidenceError, ToolTimeout, Unavailable
from evidence.items import get_item
from evidence.models import ItemStatus, Job
from ingest import metrics
from ingest.registry import handlers_by_kind
from ingest.runtime import Runtime

log = logging.getLogger(__name__)
LEASE_S = 4 * 3600


def _record_failure(rt: Runtime, job: Job, exc: BaseException, permanent: bool) -> None:
    detail = f"{type(exc).__name__}: {exc}"
    marks_item = jobs.SPECS[jobs.JobKind(job.kind)].marks_item_on_failure

    def write(session: Session) -> None:
        row = session.merge(job)
        if permanent:
            jobs.give_up(session, row, detail)
            retrying = False
        else:
            retrying = jobs.retry_later(session, row, detail, rt.settings.job_max_attempts)
        give_up = jobs.SPECS[jobs.JobKind(job.kind)].on_give_up
        if not retrying and give_up is not None:
            give_up(session, row, detail)
        if not retrying and marks_item and job.item_id is not None:
            item = get_item(session, job.item_id)
            # only an item still waiting for its media verdict gets one: an item another run of this job
            # already settled (its lease ran out mid-run), or one that has since expired, keeps its status
            if item.status == ItemStatus.STORED.value:
                item_status.move(item, ItemStatus.MEDIA_ERROR, f"{job.kind}: {detail}")
        custody.append(
            session,
            EventKind.FAILED,
            agent=rt.agent(),
            item_id=job.item_id,
            outcome=Outcome.WARNING if retrying else Outcome.FAILURE,
            details={"job": job.kind, "attempt": job.attempts, "error": detail, "will_retry": retrying},
        )

    unit_of_work.run(rt.sessions, write)


def run_one(rt: Runtime, item_ids: list[int] | None = None) -> bool:
    """Claim and run one job; False when none was runnable."""
    registry = handlers_by_kind()
    job = unit_of_work.run(rt.sessions, lambda session: jobs.claim(session, rt.owner, LEASE_S, item_ids))
    if job is None:
        return False
    began, outcome = time.perf_counter(), "done"
    try:
        registry[jobs.JobKind(job.kind)](rt, job, jobs.payload_of(job))
    except (Unavailable, ToolTimeout) as exc:
        outcome = "retry"
        log.warning("job %s for item %s will be retried: %s", job.kind, job.item_id, exc)
        _record_failure(rt, job, exc, permanent=False)
    except EvidenceError as exc:
        outcome = "failed"
        log.error("job %s for item %s failed: %s", job.kind, job.item_id, exc)
        _record_failure(rt, job, exc, permanent=True)
    except Exception as exc:  # a bug must not stop the worker; it is recorded on the item
        outcome = "failed"
        log.exception("job %s for item %s crashed", job.kind, job.item_id)
        _record_failure(rt, job, exc, permanent=True)
    finally:
        metrics.job_ran(job.kind, outcome, time.perf_counter() - began)
    return True


def drain(rt: Runtime, item_ids: list[int] | None = None, stop: Callable[[], bool] = lambda: False) -> int:
    """Run jobs until none is runnable now; returns how many ran (the registry is checked first)."""
    handlers_by_kind()
    ran = 0
    while not stop() and run_one(rt, item_ids):
        ran += 1
    return ran
