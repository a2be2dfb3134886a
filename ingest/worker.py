"""The job worker: claim a job, run its kind's handler under a heartbeat, and retry or park its failure.

A job is held under a short lease (``EVIDENCE_JOB_LEASE_SECONDS``) that a heartbeat thread renews
every third of it while the handler runs. A worker that dies (any host) stops renewing, its lease
lapses and another worker takes the job; should the first one come back, every write of its result
is fenced (``jobs.fence``) and refused: it logs and drops it.

A store or database outage or a tool timeout is retried with ``retries.JOB``'s backoff; any other
failure is permanent, and marks the item when the job's kind says a failure does.

``Pool`` runs N such workers as threads (``evidence worker``, and ``evidence up``'s worker part),
and sweeps the store's staging folder of a crash's leftovers at start and periodically (ingest/staging.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from types import TracebackType

from sqlalchemy.orm import Session

from evidence import custody, item_status, jobs, unit_of_work
from evidence.custody import EventKind, Outcome
from evidence.errors import EvidenceError, JobAbandoned, LeaseLost, ToolTimeout, Unavailable
from evidence.items import get_item
from evidence.jobs import JobKind
from evidence.models import ItemStatus, Job
from ingest import metrics
from ingest.registry import handlers_by_kind
from ingest.runtime import Runtime
from ingest.staging import SWEEP_EVERY_S, StagingSweeper, max_age_s

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews this worker's lease on ``job`` every ``lease_s / 3`` seconds until the job ends.

    ``lost`` is set when a renewal finds the lease no longer ours (taken over after a long stall);
    a renewal that fails on an outage is tried again at the next beat (the lease may then lapse,
    and fencing refuses the result).
    """

    def __init__(self, rt: Runtime, job: Job, lease_s: float):
        self.rt, self.job, self.lease_s = rt, job, lease_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"evidence-heartbeat-{job.id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                ours = unit_of_work.run(self.rt.sessions, lambda s: jobs.heartbeat(s, self.job, self.lease_s))
            except Exception as exc:  # noqa: BLE001 - an outage: the next beat tries again
                log.warning("could not renew the lease of job %s: %s", self.job.id, exc)
                continue
            if not ours:
                log.warning("job %s (%s): lease lost; its result will be refused", self.job.id, self.job.kind)
                self.lost.set()
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


def _record_failure(rt: Runtime, job: Job, exc: BaseException, permanent: bool) -> None:
    """Retry later or park the job as failed, with its custody event; fenced (LeaseLost when not ours)."""
    detail = f"{type(exc).__name__}: {exc}"
    marks_item = jobs.SPECS[JobKind(job.kind)].marks_item_on_failure

    def write(session: Session) -> None:
        if permanent:
            jobs.give_up(session, job, detail)
            retrying = False
        else:
            retrying = jobs.retry_later(session, job, detail, rt.settings.job_max_attempts)
        row = jobs.fence_row(session, job)
        give_up = jobs.SPECS[JobKind(job.kind)].on_give_up
        if not retrying and give_up is not None:
            give_up(session, row, detail)
        if not retrying and marks_item and job.item_id is not None:
            item = get_item(session, job.item_id)
            # only an item still waiting for its media verdict gets one: one that has since expired keeps its status
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


def _run_handler(rt: Runtime, job: Job) -> str:
    """Run ``job``'s handler, recording a failure; the outcome for the metrics (done, retry, failed)."""
    registry = handlers_by_kind()
    outcome = "done"
    try:
        registry[JobKind(job.kind)](rt, job, jobs.payload_of(job))
    except LeaseLost:
        raise
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
    return outcome


def run_one(
    rt: Runtime,
    item_ids: list[int] | None = None,
    kinds: Collection[JobKind] | None = None,
    holding: Callable[[Job | None], None] = lambda _: None,
) -> bool:
    """Claim and run one job; False when none was runnable. ``holding`` is told the job held (then None)."""
    lease_s = rt.settings.job_lease_seconds
    job = unit_of_work.run(rt.sessions, lambda session: jobs.claim(session, rt.owner, lease_s, item_ids, kinds))
    if job is None:
        return False
    holding(job)
    began, outcome = time.perf_counter(), "failed"
    try:
        with Heartbeat(rt, job, lease_s):
            if job.attempts > rt.settings.job_max_attempts:  # its last try's lease lapsed too: a poison job
                why = f"{job.attempts - 1} tries, the last ended with its worker gone (killed, out of memory?)"
                log.error("job %s (%s, item %s) abandoned: %s", job.id, job.kind, job.item_id, why)
                _record_failure(rt, job, JobAbandoned(why), permanent=True)
            else:
                outcome = _run_handler(rt, job)
    except LeaseLost as exc:
        outcome = "lease_lost"
        log.warning("dropped the result of job %s (%s, item %s): %s", job.id, job.kind, job.item_id, exc)
    finally:
        holding(None)
        metrics.job_ran(job.kind, outcome, time.perf_counter() - began)
    return True


def drain(
    rt: Runtime,
    item_ids: list[int] | None = None,
    stop: Callable[[], bool] = lambda: False,
    kinds: Collection[JobKind] | None = None,
    holding: Callable[[Job | None], None] = lambda _: None,
) -> int:
    """Run jobs until none is runnable now; returns how many ran (the registry is checked first)."""
    handlers_by_kind()
    ran = 0
    while not stop() and run_one(rt, item_ids, kinds, holding):
        ran += 1
    return ran


def release(rt: Runtime, job: Job) -> bool:
    """Give a job this worker still holds back to the queue at once (stopping); False when not ours any more."""
    try:
        unit_of_work.run(rt.sessions, lambda session: jobs.release(session, job))
    except LeaseLost:
        return False
    log.info("released job %s (%s) for another worker", job.id, job.kind)
    return True


class Pool:
    """``concurrency`` worker threads claiming only ``kinds`` (all when None) until ``stop`` is set.

    A stopping pool lets each thread finish its current job for up to ``grace_s`` seconds; then
    the jobs still held are released (another worker takes them at once) and whatever the slow
    handlers record later is refused by fencing.
    """

    def __init__(
        self,
        rt: Runtime,
        stop: threading.Event,
        concurrency: int = 1,
        kinds: Collection[JobKind] | None = None,
        idle_s: float = 1.0,
        sweep_every_s: float = SWEEP_EVERY_S,
    ):
        handlers_by_kind()  # a kind without its handler: refuse to start (JobRegistryInvalid, a ConfigError)
        self.rt, self.stop, self.kinds, self.idle_s = rt, stop, kinds, idle_s
        self.sweeper = StagingSweeper(rt.store, max_age_s(rt.settings), stop, sweep_every_s)
        self.held: dict[int, Job] = {}
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._loop, args=(n,), name=f"evidence-worker-{n}", daemon=True)
            for n in range(concurrency)
        ]

    def _holding(self, n: int) -> Callable[[Job | None], None]:
        def note(job: Job | None) -> None:
            with self._lock:
                if job is None:
                    self.held.pop(n, None)
                else:
                    self.held[n] = job

        return note

    def _loop(self, n: int) -> None:
        while not self.stop.is_set():
            try:
                ran = drain(self.rt, stop=self.stop.is_set, kinds=self.kinds, holding=self._holding(n))
            except Unavailable as exc:
                log.warning("worker %d waits for the database: %s", n, exc)
                ran = 0
            except Exception:  # noqa: BLE001 - a worker thread must not die unreported
                log.exception("worker %d failed; going on", n)
                ran = 0
            if not ran:
                self.stop.wait(self.idle_s)

    def start(self) -> Pool:
        self.sweeper.start()
        for thread in self.threads:
            thread.start()
        return self

    def join(self, grace_s: float = 30.0) -> list[int]:
        """After ``stop``: wait for the threads; release the jobs still held after ``grace_s``; their ids."""
        for thread in self.threads:
            thread.join(timeout=grace_s)
        self.sweeper.thread.join(timeout=grace_s)
        with self._lock:
            left = list(self.held.values())
        return [job.id for job in left if release(self.rt, job)]
