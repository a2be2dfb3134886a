"""Chain of custody: typed events, each hash-linked to the one before it.

All events of the system form one chain ordered by ``seq``. Each event's hash
covers its own fields and the previous event's hash, so editing, deleting,
inserting or reordering any event breaks every link after it. Appends are
serialised (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), and the
unique ``seq`` and ``prev_hash`` columns refuse a fork even if that failed.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, text, true
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from evidence import access
from evidence.errors import InvalidInput
from evidence.items import time_filter, valid_id
from evidence.models import Case, CustodyEvent, Item, User, utcnow
from evidence.users import Principal

GENESIS = "0" * 64
CHAIN_LOCK_ID = 0x45564944  # "EVID"
MAX_PAGE = 1000


class EventKind(str, enum.Enum):
    RECEIVED = "received"
    HASHED = "hashed"
    STORED = "stored"
    VERIFIED = "verified"
    DUPLICATE_RECEIVED = "duplicate_received"
    REJECTED = "rejected"
    PROBED = "probed"
    TIMES_ASSESSED = "times_assessed"
    ATTRIBUTED = "attributed"
    PROXY_MADE = "proxy_made"
    SOURCE_RELEASED = "source_released"
    FAILED = "failed"
    DEVICE_ASSIGNED = "device_assigned"
    MEDIA_VIEWED = "media_viewed"
    ORIGINAL_DOWNLOADED = "original_downloaded"
    ACCESS_DENIED = "access_denied"
    CASE_OPENED = "case_opened"
    CASE_UPDATED = "case_updated"
    REVIEWER_ASSIGNED = "reviewer_assigned"
    LINKED = "linked"
    UNLINKED = "unlinked"
    MARKED = "marked"
    UNMARKED = "unmarked"
    ACCESS_GRANTED = "access_granted"
    CLIP_REQUESTED = "clip_requested"
    CLIP_MADE = "clip_made"
    LATENESS_EXCUSED = "lateness_excused"
    EXCUSE_REVOKED = "excuse_revoked"
    HOLD_PLACED = "hold_placed"
    HOLD_RELEASED = "hold_released"
    EXPIRED = "expired"
    PURGED = "purged"
    RESTORED = "restored"


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    seq: int,
    prev_hash: str,
    item_id: int | None,
    kind: str,
    outcome: str,
    agent: str,
    tool: str | None,
    occurred_at: datetime,
    details: str,
    case_id: int | None = None,
) -> str:
    """SHA-256 over the canonical form of one event and its predecessor's hash."""
    fields = {
        "seq": seq,
        "prev": prev_hash,
        "item": item_id,
        "kind": kind,
        "outcome": outcome,
        "agent": agent,
        "tool": tool,
        "at": _iso(occurred_at),
        "details": details,
    }
    if case_id is not None:  # added in schema 0003; events without a case hash as before
        fields["case"] = case_id
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_ID})


def append(
    session: Session,
    kind: EventKind,
    *,
    agent: str,
    item_id: int | None = None,
    case_id: int | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    tool: str | None = None,
    details: dict[str, Any] | None = None,
) -> CustodyEvent:
    """Add one event at the end of the chain, in the caller's transaction."""
    _lock_chain(session)
    session.flush()
    tail = session.execute(
        select(CustodyEvent.seq, CustodyEvent.hash).order_by(CustodyEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (tail[0] + 1, tail[1]) if tail else (1, GENESIS)
    occurred_at = utcnow()
    details_text = canonical_json(details or {})
    fields: dict[str, Any] = dict(
        seq=seq,
        prev_hash=prev,
        item_id=item_id,
        case_id=case_id,
        kind=EventKind(kind).value,
        outcome=Outcome(outcome).value,
        agent=agent,
        tool=tool,
        occurred_at=occurred_at,
        details=details_text,
    )
    event = CustodyEvent(**fields, hash=event_hash(**fields))
    session.add(event)
    session.flush()
    return event


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None


def _stream(session: Session) -> Generator[CustodyEvent]:
    result = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq).execution_options(yield_per=2000))
    try:
        yield from result
    finally:
        result.close()  # a server-side cursor (PostgreSQL) must not outlive an early return


def verify(session: Session) -> VerifyReport:
    """Walk the whole chain; report the first event that does not verify.

    Run it in a read-only unit of work: then it takes no write lock, and ingest and the API go on meanwhile."""
    expected_seq, prev, checked = 1, GENESIS, 0
    events = _stream(session)
    for ev in events:
        problem = None
        if ev.seq != expected_seq:
            problem = f"sequence gap: expected {expected_seq}, found {ev.seq} (events deleted or inserted)"
        elif ev.prev_hash != prev:
            problem = "link broken: prev_hash does not match the previous event (deleted, inserted or reordered)"
        else:
            recomputed = event_hash(
                seq=ev.seq,
                prev_hash=ev.prev_hash,
                item_id=ev.item_id,
                kind=ev.kind,
                outcome=ev.outcome,
                agent=ev.agent,
                tool=ev.tool,
                occurred_at=ev.occurred_at,
                details=ev.details,
                case_id=ev.case_id,
            )
            if recomputed != ev.hash:
                problem = "content altered: the event's hash does not match its fields"
        if problem:
            events.close()
            return VerifyReport(False, checked, prev, bad_seq=ev.seq, reason=problem)
        checked += 1
        expected_seq, prev = ev.seq + 1, ev.hash
    return VerifyReport(True, checked, prev)


def log_for(session: Session, item_id: int) -> list[CustodyEvent]:
    """The events of one item, oldest first."""
    return list(session.scalars(select(CustodyEvent).where(CustodyEvent.item_id == item_id).order_by(CustodyEvent.seq)))


def item_log(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    """``log_for`` as dicts, inside the caller's Core transaction (the API's hot read path)."""
    with Session(conn) as session:
        return [as_dict(e) for e in log_for(session, item_id)]


def log_for_case(session: Session, case_id: int) -> list[CustodyEvent]:
    """The events of one case file, oldest first."""
    return list(session.scalars(select(CustodyEvent).where(CustodyEvent.case_id == case_id).order_by(CustodyEvent.seq)))


_EVERY_EVENT: ColumnElement[bool] = true()


def search(
    session: Session,
    visible: ColumnElement[bool] = _EVERY_EVENT,
    *,
    kind: str | None = None,
    user: str | None = None,
    item_id: int | None = None,
    case_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> tuple[list[CustodyEvent], int | None]:
    """Events across the whole chain, oldest first, among the ``visible`` ones: of one ``kind``, by
    one ``user`` (API acts), on one item or case, at ``since`` or later and before ``until``.

    A page of at most ``limit`` events after seq ``after``, and the ``after`` of the next page (or
    None). A filter naming a kind, user, item or case that does not exist is InvalidInput.
    """
    query = select(CustodyEvent).where(visible, CustodyEvent.seq > after).order_by(CustodyEvent.seq)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit: between 1 and {MAX_PAGE}")
    if not (after == 0 or valid_id(after)):
        raise InvalidInput("after: not a sequence number")
    if kind is not None:
        if kind not in EventKind._value2member_map_:
            raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(k.value for k in EventKind)}")
        query = query.where(CustodyEvent.kind == kind)
    if user is not None:
        if session.scalar(select(User.id).where(User.username == user)) is None:
            raise InvalidInput(f"user: no user {user!r}")
        query = query.where(CustodyEvent.agent.startswith(f"user={user};", autoescape=True))
    for what, model, value, column in (
        ("item", Item, item_id, CustodyEvent.item_id),
        ("case", Case, case_id, CustodyEvent.case_id),
    ):
        if value is not None:
            if not valid_id(value) or session.get(model, value) is None:
                raise InvalidInput(f"{what}: no {what} {value}")
            query = query.where(column == value)
    for what, moment, keep in (
        ("from", since, CustodyEvent.occurred_at.__ge__),
        ("to", until, CustodyEvent.occurred_at.__lt__),
    ):
        if moment is not None:
            query = query.where(keep(time_filter(moment, what)))
    events = list(session.scalars(query.limit(limit + 1)))
    return events[:limit], events[limit - 1].seq if len(events) > limit else None


def search_visible(session: Session, who: Principal, **filters: Any) -> tuple[list[dict[str, Any]], int | None]:
    """``search`` among the events ``who`` may search (the caller has asked ``decide_custody_search``)."""
    events, last = search(session, access.visible_events(who), **filters)
    return [as_dict(e) for e in events], last


def as_dict(ev: CustodyEvent) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "item_id": ev.item_id,
        "case_id": ev.case_id,
        "kind": ev.kind,
        "outcome": ev.outcome,
        "agent": ev.agent,
        "tool": ev.tool,
        "occurred_at": _iso(ev.occurred_at),
        "details": json.loads(ev.details),
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }
