"""Fixity audits: re-read stored originals and clips, recompute SHA-256 and size, record the result.

A check reads the object first, with no transaction open, then records the outcome in one short
transaction: a ``fixity_checked`` event, or on a mismatch or a missing object a ``fixity_failed``
event and an alarm on the item. The alarm stays set when a later check passes (that check is
recorded, and says the alarm stands): the object was wrong once, and only a person who has looked
into why may clear it. Proxies and posters are not audited: they can be made again from the original.
"""

from __future__ import annotations

import hashlib
import random
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

from evidence import custody, unit_of_work
from evidence.custody import EventKind, Outcome
from evidence.errors import FixityAlarm, InvalidInput
from evidence.items import iso, valid_id
from evidence.models import Item, ItemStatus, utcnow
from evidence.objectstore import ObjectStore

HASH_TOOL = f"python hashlib sha256 ({ssl.OPENSSL_VERSION})"
METHOD = "re-read the stored object from the store and recomputed its SHA-256 and size"


def checkable() -> ColumnElement[bool]:
    """Items whose stored object should be there: every status but purged (expired ones are still kept)."""
    return (Item.status != ItemStatus.PURGED.value) & Item.purged_at.is_(None)


@dataclass(frozen=True)
class Target:
    """What one check needs to know about an item, read before the object is."""

    item_id: int
    sha256: str
    size_bytes: int
    object_key: str


def _targets(session: Session, query: Any) -> list[Target]:
    rows = session.execute(query.with_only_columns(Item.id, Item.sha256, Item.size_bytes, Item.object_key))
    return [Target(*row) for row in rows]


def select_targets(
    session: Session,
    *,
    item_id: int | None = None,
    older_than_days: float | None = None,
    sample_percent: float | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[Target]:
    """The items one audit checks: one ``item_id``; or those not checked for ``older_than_days`` (never
    checked included); of those, a random ``sample_percent`` (at least one when any qualify)."""
    if sample_percent is not None and not 0 < sample_percent <= 100:
        raise InvalidInput("--sample: a percentage above 0 and at most 100")
    if older_than_days is not None and older_than_days < 0:
        raise InvalidInput("--older-than: a number of days, not negative")
    if item_id is not None:
        if not valid_id(item_id) or session.get(Item, item_id) is None:
            raise InvalidInput(f"no item {item_id}")
        found = _targets(session, select(Item).where(Item.id == item_id, checkable()))
        if not found:
            raise InvalidInput(f"item {item_id} was purged: there is no stored object to check")
        return found
    query = select(Item).where(checkable()).order_by(Item.id)
    if older_than_days is not None:
        cutoff = (now or utcnow()) - timedelta(days=older_than_days)
        query = query.where(Item.fixity_checked_at.is_(None) | (Item.fixity_checked_at <= cutoff))
    found = _targets(session, query)
    if sample_percent is not None and found:
        wanted = max(1, round(len(found) * sample_percent / 100))
        found = sorted((rng or random.SystemRandom()).sample(found, wanted), key=lambda t: t.item_id)
    return found


def next_due(session: Session, due_before: datetime, limit: int = 1) -> list[Target]:
    """The items the rolling pass checks next: never checked first, then the longest unchecked, only
    those last checked before ``due_before``."""
    query = (
        select(Item)
        .where(checkable(), Item.fixity_checked_at.is_(None) | (Item.fixity_checked_at < due_before))
        .order_by(Item.fixity_checked_at.is_not(None), Item.fixity_checked_at, Item.id)
        .limit(limit)
    )
    return _targets(session, query)


def targets_of(session: Session, item_ids: Sequence[int]) -> list[Target]:
    """The ones of ``item_ids`` still checkable (a batch may have been queued before a purge), by id."""
    return _targets(session, select(Item).where(Item.id.in_(list(item_ids)), checkable()).order_by(Item.id))


def oldest_check(session: Session) -> datetime | None:
    """When the item checked longest ago was checked (None: none is checkable, or one never was)."""
    never = session.scalar(select(Item.id).where(checkable(), Item.fixity_checked_at.is_(None)).limit(1))
    if never is not None:
        return None
    return session.scalar(select(func.min(Item.fixity_checked_at)).where(checkable()))


def holdings_bytes(session: Session) -> int:
    """Bytes the audits must read to check every stored original and clip once."""
    return int(session.scalar(select(func.coalesce(func.sum(Item.size_bytes), 0)).where(checkable())) or 0)


def alarm_count(session: Session) -> int:
    """How many items carry a fixity alarm (the health endpoint's counter)."""
    return int(session.scalar(select(func.count()).select_from(Item).where(Item.fixity_alarm.is_(True))) or 0)


@dataclass(frozen=True)
class Reading:
    """What re-reading one object found (before anything is recorded)."""

    target: Target
    sha256: str | None  # None: the object is missing
    size_bytes: int | None
    started_at: datetime
    finished_at: datetime
    seconds: float

    @property
    def missing(self) -> bool:
        return self.sha256 is None

    @property
    def ok(self) -> bool:
        return self.sha256 == self.target.sha256 and self.size_bytes == self.target.size_bytes


def alarms(session: Session, scope: ColumnElement[bool], limit: int) -> list[dict[str, Any]]:
    """Items in fixity alarm among those ``scope`` admits (a report scope), oldest first: at most ``limit``."""
    rows = session.execute(
        select(Item.id, Item.officer_id, Item.unit, Item.device_serial, Item.recorded_end, Item.fixity_checked_at)
        .where(Item.fixity_alarm.is_(True), scope)
        .order_by(Item.id)
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "officer_id": r.officer_id,
            "unit": r.unit,
            "device_serial": r.device_serial,
            "recorded_end": iso(r.recorded_end),
            "fixity_checked_at": iso(r.fixity_checked_at),
        }
        for r in rows
    ]


def read(store: ObjectStore, target: Target, on_bytes: Callable[[int], None] | None = None) -> Reading:
    """Stream the object and hash it. ``on_bytes`` is called after each chunk (progress, rate limit;
    whatever it raises ends the read). A store outage raises (StoreUnavailable): that is no finding."""
    started, clock = utcnow(), time.monotonic()
    sha, count = hashlib.sha256(), 0
    if store.size(target.object_key) is None:
        return Reading(target, None, None, started, utcnow(), time.monotonic() - clock)
    chunks: Iterator[bytes] = store.iter_chunks(target.object_key)
    try:
        for chunk in chunks:
            sha.update(chunk)
            count += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    except FileNotFoundError:  # removed while it was being read (the folder store)
        return Reading(target, None, None, started, utcnow(), time.monotonic() - clock)
    return Reading(target, sha.hexdigest(), count, started, utcnow(), time.monotonic() - clock)


@dataclass(frozen=True)
class Result:
    """One recorded check: the item, whether it passed, and whether the item is in alarm afterwards."""

    item_id: int
    ok: bool
    missing: bool
    alarm: bool
    bytes_read: int
    seconds: float
    skipped: str | None = None  # why nothing was recorded (purged meanwhile)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def record(session: Session, reading: Reading, *, agent: str, store: str) -> Result:
    """Record one reading as a custody event, in the caller's (short) transaction."""
    t = reading.target
    item = session.get(Item, t.item_id, with_for_update={"key_share": True})
    took = round(reading.seconds, 3)
    read_bytes = reading.size_bytes or 0
    if item is None or item.status == ItemStatus.PURGED.value or item.object_key != t.object_key:
        # the sweeper purged it while it was read: an object gone by the rules is no alarm
        return Result(t.item_id, False, reading.missing, False, read_bytes, took, skipped="purged meanwhile")
    common = {"object_key": t.object_key, "store": store, "method": METHOD, "seconds": took}
    common["started_at"] = iso(reading.started_at)
    if reading.ok:
        details: dict[str, Any] = {**common, "sha256": reading.sha256, "size_bytes": reading.size_bytes}
        if item.fixity_alarm:
            details["alarm"] = "stands: an earlier check failed; it stays until an administrator resolves it"
        custody.append(
            session,
            EventKind.FIXITY_CHECKED,
            agent=agent,
            item_id=item.id,
            tool=HASH_TOOL,
            details=details,
            occurred_at=reading.finished_at,
        )
    else:
        found: dict[str, Any] | str = (
            "missing" if reading.missing else {"sha256": reading.sha256, "size_bytes": reading.size_bytes}
        )
        custody.append(
            session,
            EventKind.FIXITY_FAILED,
            agent=agent,
            item_id=item.id,
            outcome=Outcome.FAILURE,
            tool=HASH_TOOL,
            details={
                **common,
                "problem": "missing" if reading.missing else "mismatch",
                "expected": {"sha256": t.sha256, "size_bytes": t.size_bytes},
                "found": found,
            },
            occurred_at=reading.finished_at,
        )
        item.fixity_alarm = True
    item.fixity_checked_at = reading.finished_at
    return Result(item.id, reading.ok, reading.missing, item.fixity_alarm, read_bytes, took)


def resolve(session: Session, result: Result, reason: str, *, agent: str, by: str) -> None:
    """Clear an item's alarm once a fresh check (``result``) passed, with who and why: a custody event.

    The failed checks stay in the log; this records that a person looked into them."""
    if not reason.strip():
        raise InvalidInput("a reason is required to resolve a fixity alarm")
    if not result.ok or result.skipped:
        raise FixityAlarm(f"item {result.item_id} does not pass its check now: its alarm stays")
    item = session.get(Item, result.item_id, with_for_update={"key_share": True})
    if item is None or not item.fixity_alarm:
        raise InvalidInput(f"item {result.item_id} has no fixity alarm to resolve")
    item.fixity_alarm = False
    details = {"reason": reason.strip(), "by": by, "checked_sha256_matches": True}
    custody.append(session, EventKind.FIXITY_RESOLVED, agent=agent, item_id=item.id, details=details)


def check(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    target: Target,
    *,
    agent: str,
    on_bytes: Callable[[int], None] | None = None,
) -> Result:
    """Read one item's object (no transaction open meanwhile), then record the outcome in one unit of work."""
    reading = read(store, target, on_bytes)
    return unit_of_work.run(sessions, lambda session: record(session, reading, agent=agent, store=store.description))


def check_all(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    targets: Sequence[Target],
    *,
    agent: str,
    on_bytes: Callable[[int], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """``check`` each target in turn; each item's outcome is committed before the next is read."""
    results = []
    for target in targets:
        result = check(sessions, store, target, agent=agent, on_bytes=on_bytes)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
