"""The rolling fixity pass: every stored original and clip re-read within the period.

``evidence up`` runs it in its daemon (``run``). A station whose jobs run on workers elsewhere plans
it instead (``plan``): it keeps ``JOBS_AT_ONCE`` batches of due items queued as ``fixity`` jobs, and
workers check them (``handle_batch``), so the reading is done where the workers are.

Never-checked items first, then the longest unchecked; an item is due again ``DUE_FRACTION`` of
``EVIDENCE_FIXITY_PERIOD_DAYS`` after its last check, so a pass slowed by a busy store still lands
inside the period. Reads are held to ``EVIDENCE_FIXITY_MBPS`` so ingest keeps the disk and network,
and each item's outcome is its own short transaction (evidence/fixity.py): a crash loses at most the
check under way, which the next start does again. When the rate cannot cover the holdings within
the period, a warning says so and what rate would.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from evidence import fixity, jobs, unit_of_work
from evidence.items import iso
from evidence.models import Job, utcnow
from evidence.objectstore import ObjectStore
from ingest.runtime import Runtime

log = logging.getLogger(__name__)
FIRST_S = 60.0  # after start: recovery and the waiting files go first
DUE_FRACTION = 0.9
IDLE_S = 60.0  # with nothing due, look again this often (new items are due at once)
BATCH = 50
RATE_CHECK_S = 3600.0
WARN_EVERY_S = 24 * 3600.0


class Stopping(Exception):
    """The daemon is stopping: the read under way is abandoned, nothing recorded."""


class Throttle:
    """Holds a read to ``bytes_per_s``: after each chunk, waits until the bytes so far fit the rate."""

    def __init__(self, bytes_per_s: float, wait: Callable[[float], bool]):
        self.rate, self.wait = bytes_per_s, wait  # wait(seconds) returns True when stopping
        self.start, self.count = time.monotonic(), 0

    def __call__(self, n: int) -> None:
        self.count += n
        ahead = self.count / self.rate - (time.monotonic() - self.start)
        if ahead > 0 and self.wait(ahead):
            raise Stopping


@dataclass
class PassReport:
    """What the pass has done since start, for the daemon's health report."""

    checked: int = 0
    failed: int = 0
    bytes_read: int = 0
    last_check_at: datetime | None = None
    full_pass_days: float | None = None  # at the configured rate, for the holdings as last counted
    keeps_up: bool | None = None
    alarms: list[int] = field(default_factory=list)  # items this pass found in alarm

    def as_dict(self) -> dict:
        return {
            "checked": self.checked,
            "failed": self.failed,
            "bytes_read": self.bytes_read,
            "last_check_at": iso(self.last_check_at),
            "full_pass_days": self.full_pass_days,
            "keeps_up": self.keeps_up,
            "alarms": list(self.alarms[-20:]),
        }


def rate_covers(holdings: int, bytes_per_s: float, period: timedelta) -> tuple[bool, float]:
    """Whether reading ``holdings`` bytes at the rate fits in the due window; and how many days it takes."""
    seconds = holdings / bytes_per_s
    return seconds <= period.total_seconds() * DUE_FRACTION, seconds / 86400


def _check_rate(rt: Runtime, report: PassReport, period: timedelta, warned_at: float | None) -> float | None:
    """Count the holdings; warn (at most daily) when the rate cannot cover them within the period."""
    s = rt.settings
    holdings = unit_of_work.run(rt.sessions, fixity.holdings_bytes)
    report.keeps_up, report.full_pass_days = rate_covers(holdings, s.fixity_mbps * 1e6, period)
    if report.keeps_up:
        return None
    if warned_at is None or time.monotonic() - warned_at >= WARN_EVERY_S:
        needed = holdings / (period.total_seconds() * DUE_FRACTION) / 1e6
        log.warning(
            "fixity: reading %.1f GB at EVIDENCE_FIXITY_MBPS=%g takes %.1f days, longer than "
            "EVIDENCE_FIXITY_PERIOD_DAYS=%g allows: raise EVIDENCE_FIXITY_MBPS to at least %.1f, "
            "or lengthen the period",
            holdings / 1e9,
            s.fixity_mbps,
            report.full_pass_days,
            s.fixity_period_days,
            needed,
        )
        return time.monotonic()
    return warned_at


def check_one(rt: Runtime, store: ObjectStore, target: fixity.Target, report: PassReport, throttle: Throttle) -> None:
    """Check one item, recording it (evidence/fixity.py), and add it to ``report``; an alarm is logged."""
    result = fixity.check(rt.sessions, store, target, agent=rt.agent(), on_bytes=throttle)
    if result.skipped:
        return
    report.checked += 1
    report.bytes_read += result.bytes_read
    report.last_check_at = utcnow()
    if not result.ok:
        report.failed += 1
        log.error(
            "FIXITY ALARM: item %s's stored object is %s (see `evidence custody log %s`)",
            result.item_id,
            "missing" if result.missing else "changed",
            result.item_id,
        )
    if result.alarm and result.item_id not in report.alarms:
        report.alarms.append(result.item_id)


def run(rt: Runtime, stop: threading.Event, report: PassReport | None = None, first_s: float = FIRST_S) -> None:
    """Check due items until ``stop`` is set; store outages raise (the daemon restarts the pass)."""
    report = report if report is not None else PassReport()
    if stop.wait(first_s):
        return
    s = rt.settings
    period = timedelta(days=s.fixity_period_days)
    store = rt.ready_store()
    next_rate_check, warned_at = 0.0, None
    while not stop.is_set():
        if time.monotonic() >= next_rate_check:
            warned_at = _check_rate(rt, report, period, warned_at)
            next_rate_check = time.monotonic() + RATE_CHECK_S
        now = utcnow()
        due_before = now - period * DUE_FRACTION
        due = unit_of_work.run(rt.sessions, functools.partial(fixity.next_due, due_before=due_before, limit=BATCH))
        if not due:
            oldest = unit_of_work.run(rt.sessions, fixity.oldest_check)
            wait = IDLE_S if oldest is None else (oldest - due_before).total_seconds()
            stop.wait(min(max(wait, 0.05), IDLE_S))
            continue
        for target in due:
            if stop.is_set():
                return
            try:
                check_one(rt, store, target, report, Throttle(s.fixity_mbps * 1e6, stop.wait))
            except Stopping:
                return


# -- on workers: a station plans batches, workers check them ----------------------------------------

# fixity jobs queued or running at once; each reads at this share of EVIDENCE_FIXITY_MBPS, so the pass
# as a whole keeps to the rate while two workers (on two machines, perhaps) share the reading
JOBS_AT_ONCE = 2
PLAN_EVERY_S = 5.0


def plan_once(rt: Runtime, due_before: datetime) -> list[int]:
    """Queue a batch of due items that no queued or running fixity job holds, unless enough are queued."""

    def work(session: Session) -> list[int]:
        held, listed = jobs.fixity_in_hand(session)
        if held >= JOBS_AT_ONCE:
            return []
        due = fixity.next_due(session, due_before, limit=BATCH + len(listed))
        batch = [t.item_id for t in due if t.item_id not in listed][:BATCH]
        if batch:
            jobs.enqueue_fixity(session, batch)
        return batch

    return unit_of_work.run(rt.sessions, work)


def plan(rt: Runtime, stop: threading.Event, report: PassReport | None = None, first_s: float = FIRST_S) -> None:
    """A station whose jobs run on workers: keep fixity batches of the due items queued until ``stop``."""
    report = report if report is not None else PassReport()
    if stop.wait(first_s):
        return
    period = timedelta(days=rt.settings.fixity_period_days)
    next_rate_check, warned_at = 0.0, None
    while not stop.is_set():
        if time.monotonic() >= next_rate_check:
            warned_at = _check_rate(rt, report, period, warned_at)
            next_rate_check = time.monotonic() + RATE_CHECK_S
        queued = plan_once(rt, utcnow() - period * DUE_FRACTION)
        if queued:
            log.debug("fixity: queued a batch of %d item(s)", len(queued))
        stop.wait(PLAN_EVERY_S if queued else IDLE_S)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False  # a worker's job is not cut short: a stopping pool releases it after its grace


def handle_batch(rt: Runtime, job: Job, batch: jobs.FixityBatch) -> None:
    """A worker's fixity job: check each item of the batch at its share of the rate, then complete it."""
    store = rt.ready_store()
    targets = unit_of_work.run(rt.sessions, lambda session: fixity.targets_of(session, batch.item_ids))
    throttle = Throttle(rt.settings.fixity_mbps * 1e6 / JOBS_AT_ONCE, _sleep)
    report = PassReport()
    for target in targets:
        # each check is its own record; one whose lease was taken over stops reading for another's job
        unit_of_work.run(rt.sessions, lambda session: jobs.fence(session, job))
        check_one(rt, store, target, report, throttle)
    log.info("fixity: checked %d item(s) of job %s, %d failed", report.checked, job.id, report.failed)
    unit_of_work.run(rt.sessions, lambda session: jobs.complete(session, job))
