"""The retention sweeper: expire what is past its retention, purge it after the grace period,
restore what is kept again.

A run at ``as_of`` (normally now) plans from the database as it is, recomputing every candidate's
verdict (evidence/retention.py) rather than trusting the stored one, then:

- restores expired items that are kept again (linked, marked, held since, or rules lengthened);
- purges items expired ``grace_days`` or more before ``as_of``: original, proxy and poster deleted
  from the store, the row kept as a tombstone (status ``purged``, hash, size, times, the events);
- expires items whose verdict is due (status ``expired``: still fully retrievable).

A dry run reports exactly that plan and changes nothing. Each purge runs in its own transaction
with the item's row locked, the verdict checked again, and the objects deleted inside it: a hold
or link arriving meanwhile either waits for the purge or is seen by it. An object the store refuses
to delete (S3 object lock, permissions) is reported under ``errors`` with a ``failed`` custody
event; the item stays expired and the next run tries again (deleting is idempotent).

Object lock (evidence/object_lock.py): a purge is not even tried while the original is recorded as
locked at ``as_of`` (under a legal hold, or ``lock_until`` still ahead: a retention date is never
shortened, so it may outlast a verdict that shrank); such items are listed under ``deferred`` and
purged by the first run after the lock ends. The locks themselves are brought up to date by
``object_lock.refresh``, which the daemon runs before each sweep.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from evidence import custody, item_status, object_lock, retention, unit_of_work
from evidence.custody import EventKind, Outcome
from evidence.errors import EvidenceError, Forbidden
from evidence.items import iso
from evidence.models import Item, ItemStatus, utcnow
from evidence.objectstore import ObjectStore
from evidence.retention import Rules, Verdict

# an --as-of this far ahead of the clock still counts as "now" (a slow command line, clock skew)
CLOCK_TOLERANCE = timedelta(minutes=5)
LIVE = (ItemStatus.READY.value, ItemStatus.MEDIA_ERROR.value)


@dataclass
class Plan:
    expire: list[tuple[int, Verdict]] = field(default_factory=list)
    purge: list[tuple[int, datetime]] = field(default_factory=list)  # id, expired_at
    restore: list[tuple[int, Verdict]] = field(default_factory=list)
    defer: list[tuple[int, str | None, datetime | None]] = field(default_factory=list)  # id, lock state, until


@dataclass
class SweepReport:
    as_of: datetime
    dry_run: bool
    expired: list[dict[str, Any]] = field(default_factory=list)
    purged: list[dict[str, Any]] = field(default_factory=list)
    restored: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)  # purges waiting for an object lock to end
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": iso(self.as_of),
            "dry_run": self.dry_run,
            "expired": self.expired,
            "purged": self.purged,
            "restored": self.restored,
            "deferred": self.deferred,
            "errors": self.errors,
        }


def _candidates(session: Session, as_of: datetime, rules: Rules, lock: bool = False) -> list[Item]:
    """Expired items, and live ones old enough that even the shortest rule could have run out
    (every verdict is at least the ordinary period from the recording, so this misses none)."""
    counted_from = func.coalesce(Item.recorded_end, Item.received_at)
    query = (
        select(Item)
        .where(
            or_(
                Item.status == ItemStatus.EXPIRED.value,
                Item.status.in_(LIVE) & (counted_from <= as_of - timedelta(days=rules.retain_days)),
            )
        )
        .order_by(Item.id)
    )
    return list(session.scalars(query.with_for_update(key_share=True) if lock else query))


def plan(session: Session, as_of: datetime, rules: Rules, grace_days: int, lock: bool = False) -> Plan:
    """What a run at ``as_of`` does, from the database as it is now."""
    items = _candidates(session, as_of, rules, lock)
    found = retention.verdicts(session, items, rules)
    todo = Plan()
    for item in items:
        verdict = found[item.id]
        if item.status == ItemStatus.EXPIRED.value:
            if not verdict.due(as_of):
                todo.restore.append((item.id, verdict))
            elif item.expired_at is not None and item.expired_at + timedelta(days=grace_days) <= as_of:
                if object_lock.locked_at(item, as_of):
                    todo.defer.append((item.id, item.lock_state, item.lock_until))
                else:
                    todo.purge.append((item.id, item.expired_at))
        elif verdict.due(as_of):
            todo.expire.append((item.id, verdict))
    return todo


def _report(todo: Plan, as_of: datetime, dry_run: bool) -> SweepReport:
    report = SweepReport(as_of, dry_run)
    report.expired = [{"id": i, "class": v.klass.value, "keep_until": iso(v.keep_until)} for i, v in todo.expire]
    report.purged = [{"id": i, "expired_at": iso(at)} for i, at in todo.purge]
    report.restored = [{"id": i, "because": v.because} for i, v in todo.restore]
    report.deferred = [{"id": i, "lock_state": st, "lock_until": iso(until)} for i, st, until in todo.defer]
    return report


def check_clock(as_of: datetime, dry_run: bool, allow_clock_override: bool, now: datetime) -> bool:
    """Is ``as_of`` in the future? A real run then would destroy evidence early: refused unless allowed."""
    ahead = as_of > now + CLOCK_TOLERANCE
    if ahead and not dry_run and not allow_clock_override:
        raise Forbidden(
            f"--as-of {iso(as_of)} is later than now: a real run would expire and purge evidence early "
            "(set EVIDENCE_ALLOW_CLOCK_OVERRIDE=1 for tests and drills, or use --dry-run)"
        )
    return ahead


def sweep(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    as_of: datetime | None = None,
    dry_run: bool = False,
    rules: Rules,
    grace_days: int,
    agent: str,
    allow_clock_override: bool = False,
) -> SweepReport:
    """One run of the sweeper at ``as_of`` (default: now); see the module's text."""
    now = utcnow()
    as_of = as_of or now
    override = check_clock(as_of, dry_run, allow_clock_override, now)
    context: dict[str, Any] = {"as_of": iso(as_of), "grace_days": grace_days}
    if override:
        context["clock_override"] = f"as_of is {iso(as_of)}, later than the clock ({iso(now)})"
    todo = unit_of_work.run(sessions, lambda s: plan(s, as_of, rules, grace_days))
    report = _report(todo, as_of, dry_run)
    if dry_run:
        return report

    def expire_and_restore(session: Session) -> Plan:
        done = Plan()
        fresh = plan(session, as_of, rules, grace_days, lock=True)  # as the rows are now, locked
        wanted_expire = {i for i, _ in todo.expire}
        wanted_restore = {i for i, _ in todo.restore}
        for item_id, verdict in fresh.restore:
            if item_id in wanted_restore:
                item = session.get_one(Item, item_id)
                _store_verdict(item, verdict)
                retention.restore(session, item, verdict, agent)
                done.restore.append((item_id, verdict))
        for item_id, verdict in fresh.expire:
            if item_id in wanted_expire:
                item = session.get_one(Item, item_id)
                _store_verdict(item, verdict)
                item_status.move(item, ItemStatus.EXPIRED)
                item.expired_at = as_of
                custody.append(
                    session, EventKind.EXPIRED, agent=agent, item_id=item_id, details={**verdict.as_dict(), **context}
                )
                done.expire.append((item_id, verdict))
        return done

    done = unit_of_work.run(sessions, expire_and_restore)
    report.expired = _report(done, as_of, False).expired
    report.restored = _report(done, as_of, False).restored
    report.purged = []
    for item_id, expired_at in todo.purge:
        purge_one = functools.partial(
            _purge, store=store, item_id=item_id, as_of=as_of, rules=rules, grace_days=grace_days, agent=agent
        )
        try:
            if unit_of_work.run(sessions, functools.partial(purge_one, context=context)):
                report.purged.append({"id": item_id, "expired_at": iso(expired_at)})
        except EvidenceError as exc:
            error = f"{type(exc).__name__}: {exc}"
            report.errors.append({"id": item_id, "error": error})
            failed = {"step": "purge", "error": error, "will_retry": True, **context}
            unit_of_work.run(
                sessions,
                functools.partial(
                    custody.append,
                    kind=EventKind.FAILED,
                    agent=agent,
                    item_id=item_id,
                    outcome=Outcome.FAILURE,
                    details=failed,
                ),
            )
    return report


def _store_verdict(item: Item, verdict: Verdict) -> None:
    item.retention_class, item.keep_until = verdict.klass.value, verdict.keep_until
    item.retention_because = verdict.because


def _purge(
    session: Session,
    store: ObjectStore,
    item_id: int,
    as_of: datetime,
    rules: Rules,
    grace_days: int,
    agent: str,
    context: dict[str, Any],
) -> bool:
    """Purge one expired item if it still should be: row locked, verdict checked, objects deleted
    (inside the transaction on purpose: see the module's text), the row made a tombstone."""
    item = session.scalars(select(Item).where(Item.id == item_id).with_for_update(key_share=True)).first()
    if item is None or item.status != ItemStatus.EXPIRED.value or item.expired_at is None:
        return False
    verdict = retention.verdicts(session, [item], rules)[item.id]
    if not verdict.due(as_of) or item.expired_at + timedelta(days=grace_days) > as_of:
        return False
    if object_lock.locked_at(item, as_of):
        return False  # locked since the plan was made: the store would refuse (deferred next run)
    keys = [k for k in (item.object_key, item.proxy_key, item.poster_key) if k]
    for key in keys:
        store.delete(key)
    item_status.move(item, ItemStatus.PURGED)
    item.purged_at = as_of
    custody.append(
        session,
        EventKind.PURGED,
        agent=agent,
        item_id=item.id,
        details={
            **verdict.as_dict(),
            **context,
            "expired_at": iso(item.expired_at),
            "deleted": keys,
            "sha256": item.sha256,
            "size_bytes": item.size_bytes,
        },
    )
    return True
