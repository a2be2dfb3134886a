"""The daily retention sweep (evidence/sweeper.py), with the object lock pass that goes before it.

``evidence up`` runs it in its daemon. A station whose jobs run on workers elsewhere only queues it:
one ``sweep`` job per UTC day (its key is the day, so several stations queue it once between them),
which the first free worker runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from evidence import jobs, object_lock, sweeper, unit_of_work
from evidence.errors import EvidenceError
from evidence.models import Job, utcnow
from ingest.runtime import Runtime

log = logging.getLogger(__name__)
FIRST_S = 60.0  # the first sweep (or its job), this long after start
EVERY_S = 24 * 3600.0
QUEUE_EVERY_S = 3600.0  # a station looks whether today's sweep is queued this often


@dataclass(frozen=True)
class Swept:
    report: dict
    lock_status: str | None  # the store's object lock status, when the lock pass could run


def sweep_once(rt: Runtime) -> Swept:
    """Refresh the originals' locks, then sweep: expire, restore and purge what the rules say."""
    s, status = rt.settings, None
    # locks first: a legal hold taken off now lets this sweep purge what may go
    try:
        locks = object_lock.refresh(rt.sessions, rt.ready_store(), rt.agent())
        status = locks.status
        log.info("object lock: %d original(s) locked, %d failed", len(locks.locked), len(locks.errors))
    except EvidenceError as exc:  # the sweep still runs: it defers whatever is recorded as locked
        log.warning("object lock pass failed: %s", exc)
    report = sweeper.sweep(
        rt.sessions, rt.ready_store(), rules=s.retention, grace_days=s.retention_grace_days, agent=rt.agent()
    ).as_dict()
    log.info("retention sweep: %s", {k: len(v) for k, v in report.items() if isinstance(v, list)})
    return Swept(report, status)


def handle_sweep(rt: Runtime, job: Job, request: jobs.SweepRequest) -> None:
    """A worker's sweep job; an outage raises (the worker retries it), the day's job is then done."""
    log.info("retention sweep of %s, queued by a station", request.day)
    sweep_once(rt)
    unit_of_work.run(rt.sessions, lambda session: jobs.complete(session, job))


def queue_daily(rt: Runtime, stop: threading.Event, first_s: float = FIRST_S) -> None:
    """Until ``stop``: make sure today's sweep job exists (a station whose jobs run on workers)."""
    if stop.wait(first_s):
        return
    while True:
        job = unit_of_work.run(rt.sessions, lambda session: jobs.enqueue_sweep(session, utcnow().date()))
        log.debug("retention sweep job %s for today is %s", job.id, job.state)
        if stop.wait(QUEUE_EVERY_S):
            return
