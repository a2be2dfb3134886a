"""Write-once originals: the store's object lock kept in step with each item's retention.

Where the store can lock (an S3 bucket with object lock), each stored original carries

- a retention date (mode EVIDENCE_LOCK_MODE) equal to the item's ``keep_until``, rounded up to the
  second, and extended whenever ``keep_until`` grows; never shortened (S3 refuses that anyway), so a
  purge waits for the longest date an original ever had;
- a legal hold while the item is kept permanently (``keep_until`` null: an open case, a hold, a
  closed case with no after-case period). A hold has no end date and can be taken off when the facts
  change (the case closes with an after-case period, the hold is released), which a 100-year
  COMPLIANCE date could not: that would make the footage undeletable for ever. The retention date
  already on the object stays under the hold, and is set to the new ``keep_until`` before the hold is
  taken off.

At ingest an original is locked at once until ``received_at`` + EVIDENCE_RETENTION_GRACE_DAYS: the
retention verdict needs the probe (the recording's time) and comes later, and no purge can happen
earlier than that (an item is expired no earlier than its arrival, then waits the grace period), so
this provisional lock never delays one. ``refresh`` (the daemon runs it before each retention sweep;
``evidence retention sweep`` too) then brings every item's lock up to its verdict: it reads the
work from the database, calls the store outside any transaction, and records each result in a short
transaction of its own: ``items.lock_until`` / ``items.lock_state`` and a ``lock_applied`` custody
event (mode, until, legal hold, the object version locked).

``lock_state``: ``compliance`` or ``governance`` (a retention date), ``legal_hold`` (kept
permanently), ``unlocked`` (a legal hold taken off after the retention date had passed), or
``unsupported`` (the folder store, or a bucket without object lock: nothing is locked, no event).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from evidence import custody, unit_of_work
from evidence.custody import EventKind
from evidence.errors import EvidenceError
from evidence.items import iso
from evidence.models import Item, ItemStatus, utcnow
from evidence.objectstore import LOCK_ON, LockResult, ObjectStore

log = logging.getLogger(__name__)

LEGAL_HOLD = "legal_hold"
UNLOCKED = "unlocked"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Need:
    """An item whose stored original needs a longer lock, a legal hold, or its hold taken off."""

    item_id: int
    key: str
    keep_until: datetime | None  # None: kept permanently
    lock_until: datetime | None
    lock_state: str | None


@dataclass
class LockReport:
    status: str  # the store's lock_status()
    locked: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"object_lock": self.status, "locked": self.locked, "errors": self.errors}


def ceil_second(moment: datetime) -> datetime:
    """``moment`` rounded up to a whole second (S3 keeps milliseconds at most)."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def locked_at(item: Item, as_of: datetime) -> bool:
    """Does the store still refuse to delete this item's original at ``as_of``, by what was recorded?"""
    if item.lock_state == LEGAL_HOLD:
        return True
    return item.lock_state != UNSUPPORTED and item.lock_until is not None and item.lock_until > as_of


def needs(session: Session, now: datetime, ids: list[int] | None = None) -> list[Need]:
    """Assessed, unpurged items whose recorded lock falls short of their verdict (or outlasts a hold)."""
    query = (
        select(Item.id, Item.object_key, Item.keep_until, Item.lock_until, Item.lock_state)
        .where(
            Item.object_key.is_not(None),
            Item.status != ItemStatus.PURGED.value,
            Item.retention_class.is_not(None),
            or_(
                and_(Item.keep_until.is_(None), or_(Item.lock_state.is_(None), Item.lock_state != LEGAL_HOLD)),
                and_(Item.keep_until > now, or_(Item.lock_until.is_(None), Item.lock_until < Item.keep_until)),
                and_(Item.keep_until.is_not(None), Item.lock_state == LEGAL_HOLD),
            ),
        )
        .order_by(Item.id)
    )
    if ids is not None:
        query = query.where(Item.id.in_(ids))
    return [Need(*row) for row in session.execute(query)]


def apply(store: ObjectStore, need: Need, now: datetime) -> LockResult:
    """Make the store's lock on one original match its verdict (store calls only: no transaction)."""
    if need.keep_until is None:
        return store.legal_hold(need.key, True)
    result = None
    if need.keep_until > now:
        result = store.retain(need.key, ceil_second(need.keep_until))
        if not result.supported:
            return result
    if need.lock_state == LEGAL_HOLD:
        result = store.legal_hold(need.key, False)  # after the date is set: never a moment with neither
    assert result is not None, "needs() selects nothing else"
    return result


def state_of(result: LockResult, now: datetime) -> str:
    if not result.supported:
        return UNSUPPORTED
    if result.legal_hold:
        return LEGAL_HOLD
    if result.mode and result.until is not None and result.until > now:
        return result.mode.lower()
    return UNLOCKED


def record(session: Session, item_id: int, key: str, result: LockResult, agent: str, why: str) -> dict[str, Any]:
    """Store what the store reported on the item (row locked) and add its ``lock_applied`` event."""
    item = session.scalars(select(Item).where(Item.id == item_id).with_for_update(key_share=True)).one()
    now = utcnow()
    item.lock_state = state_of(result, now)
    if result.until is not None and (item.lock_until is None or result.until > item.lock_until):
        item.lock_until = result.until
    details: dict[str, Any] = {
        "key": key,
        "mode": result.mode,
        "until": iso(result.until),
        "legal_hold": result.legal_hold,
        "version_id": result.version_id,
        "state": item.lock_state,
        "why": why,
    }
    if result.supported:
        custody.append(session, EventKind.LOCK_APPLIED, agent=agent, item_id=item_id, details=details)
    return {"id": item_id, **{k: v for k, v in details.items() if k != "key"}}


def _why(need: Need, now: datetime) -> str:
    if need.keep_until is None:
        return "kept permanently: legal hold until the item may expire again"
    if need.lock_state == LEGAL_HOLD and need.keep_until <= now:
        return f"no longer kept permanently; keep-until {iso(need.keep_until)} has passed: legal hold taken off"
    if need.lock_state == LEGAL_HOLD:
        return f"no longer kept permanently: retained until keep-until {iso(need.keep_until)}, legal hold taken off"
    return f"retained until keep-until {iso(need.keep_until)}"


def _record_need(need: Need, result: LockResult, agent: str, now: datetime, session: Session) -> dict[str, Any]:
    return record(session, need.item_id, need.key, result, agent, _why(need, now))


def lock_new_original(
    sessions: sessionmaker[Session], store: ObjectStore, item_id: int, key: str, until: datetime, agent: str
) -> LockResult:
    """The provisional lock at ingest (see the module's text); recorded when the store can lock."""
    result = store.retain(key, ceil_second(until))
    if result.supported:
        why = "at ingest: provisional, until the retention verdict (received + grace period)"
        unit_of_work.run(sessions, lambda s: record(s, item_id, key, result, agent, why))
    return result


def refresh(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    agent: str,
    as_of: datetime | None = None,
    ids: list[int] | None = None,
) -> LockReport:
    """Bring every original's lock up to its item's verdict; one failure is reported, the rest go on.

    ``as_of`` later than the clock (a drill) judges as of then; never earlier than the clock, since
    S3 takes no retention date in the past.
    """
    now = max(utcnow(), as_of) if as_of is not None else utcnow()
    report = LockReport(store.lock_status())
    if report.status != LOCK_ON:

        def unsupported(session: Session) -> None:
            session.execute(
                update(Item)
                .where(Item.object_key.is_not(None), Item.lock_state.is_(None))
                .values(lock_state=UNSUPPORTED)
            )

        unit_of_work.run(sessions, unsupported)
        return report
    for need in unit_of_work.run(sessions, lambda s: needs(s, now, ids)):
        try:
            result = apply(store, need, now)
        except EvidenceError as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("could not lock the original of item %s: %s", need.item_id, error)
            report.errors.append({"id": need.item_id, "error": error})
            continue
        report.locked.append(unit_of_work.run(sessions, functools.partial(_record_need, need, result, agent, now)))
    return report
