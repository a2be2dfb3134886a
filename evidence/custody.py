"""Chain of custody: typed events, the leaves of one append-only Merkle log (RFC 9162).

All events of the system form one log ordered by ``seq``. Each event's leaf is its RFC 8785 JSON
(evidence/custody_tree.py); signed checkpoints (evidence/custody_checkpoints.py) commit to the root at
a size, so editing, deleting, inserting, reordering or cutting off events, even recomputing every
hash after an edit, no longer matches a checkpoint (evidence/custody_verify.py). Each row also links
to its predecessor's hash (``prev_hash``). Appends are serialised (SQLite: BEGIN IMMEDIATE;
PostgreSQL: an advisory lock), and the unique ``seq`` and ``prev_hash`` columns refuse a fork even
if that failed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import ColumnElement, select, text, true
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from evidence import access, custody_tree, merkle
from evidence.errors import InvalidInput
from evidence.items import time_filter, valid_id
from evidence.models import Case, CustodyEvent, CustodyNode, Item, User, utcnow
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
    LOG_UPGRADED = "log_upgraded"
    FIXITY_CHECKED = "fixity_checked"
    FIXITY_FAILED = "fixity_failed"
    FIXITY_RESOLVED = "fixity_resolved"
    LOCK_APPLIED = "lock_applied"
    EXPORT_REQUESTED = "export_requested"
    EXPORTED = "exported"
    EXPORT_DOWNLOADED = "export_downloaded"
    JOB_REQUEUED = "job_requeued"  # a failed job put back by an operator (evidence jobs --retry)


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


def _lock_chain(session: Session) -> None:
    # PostgreSQL: callers that lock an item's row before appending take FOR NO KEY UPDATE, never FOR
    # UPDATE: a writer holding this lock may insert a row that references the item (its foreign-key
    # check takes KEY SHARE), and FOR UPDATE would make the two wait on each other (deadlock)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_ID})


def details_text(details: dict[str, Any] | None) -> str:
    """The RFC 8785 form of an event's details (values JSON cannot hold are written as text)."""
    text = json.dumps(
        details or {}, default=str, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    if _integral(details) and _BEYOND_BMP.search(text) is None:
        # no number with a fraction and no character beyond the BMP: then RFC 8785 is exactly json's
        # sorted, compact, UTF-8 form (the tests hold the two equal). An integer beyond 2**53 is
        # written as its digits, where the rfc8785 package would refuse the whole event.
        return text
    return str(rfc8785.dumps(json.loads(text)).decode())


# keys are ordered by UTF-16 code units in RFC 8785, by code points in json: they differ only here
_BEYOND_BMP = re.compile(r"[\U00010000-\U0010FFFF]")


def _integral(value: Any) -> bool:
    """No float anywhere in ``value``."""
    if isinstance(value, dict):
        return all(_integral(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_integral(v) for v in value)
    return not isinstance(value, float)


_COLUMNS = tuple(f.name for f in dataclasses.fields(custody_tree.EventRecord))
_SQL = {
    # the driver's own statements: SQLAlchemy's per-statement work was most of an append, which runs
    # under the log's write lock, so it bounded how many events several processes could append
    "sqlite": (
        "SELECT seq, hash, format FROM custody_events ORDER BY seq DESC LIMIT 1",
        f"INSERT INTO custody_events ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})",
    ),
    "postgresql": (
        "SELECT seq, hash, format FROM custody_events ORDER BY seq DESC LIMIT 1",
        f"INSERT INTO custody_events ({', '.join(_COLUMNS)}) VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)})",
    ),
}


def _db_time(moment: datetime, dialect: str) -> Any:
    """A UTC time as the UTCDateTime column stores it (SQLite: SQLAlchemy's text form)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else naive


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
    occurred_at: datetime | None = None,
) -> custody_tree.EventRecord:
    """Add one event at the end of the log, in the caller's transaction.

    ``occurred_at``: when the step happened, if before now (a hash finished, a file received); the
    event's ``recorded_at`` is always now. Appends are serialised, so several processes may append.
    """
    kind_value, outcome_value, text_details = EventKind(kind).value, Outcome(outcome).value, details_text(details)
    _lock_chain(session)
    session.flush()  # rows the caller added (an item) must exist before the event refers to them
    conn = session.connection()
    dialect = conn.dialect.name
    tail_sql, insert_sql = _SQL[dialect]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(tail_sql)
        tail = cursor.fetchone()
        recorded_at = utcnow()
        occurred = recorded_at if occurred_at is None else occurred_at.astimezone(UTC)
        seq = tail[0] + 1 if tail else 1
        data = custody_tree.leaf_data_v2(
            seq,
            item_id,
            case_id,
            kind_value,
            outcome_value,
            agent,
            tool,
            custody_tree.iso(occurred),
            custody_tree.iso(recorded_at),
            text_details,
        )
        leaf = merkle.leaf_hash(data)
        event = custody_tree.EventRecord(
            seq=seq,
            item_id=item_id,
            case_id=case_id,
            kind=kind_value,
            outcome=outcome_value,
            agent=agent,
            tool=tool,
            occurred_at=occurred,
            recorded_at=recorded_at,
            details=text_details,
            format=2,
            prev_hash=tail[1] if tail else GENESIS,
            hash=leaf.hex(),
        )
        row = {c: getattr(event, c) for c in _COLUMNS}  # not dataclasses.asdict: it deep-copies
        row["occurred_at"], row["recorded_at"] = _db_time(occurred, dialect), _db_time(recorded_at, dialect)
        cursor.execute(insert_sql, row)
    finally:
        cursor.close()
    prev_leaf = None
    if tail is not None:
        prev_leaf = bytes.fromhex(tail[1]) if tail[2] != 1 else custody_tree.leaf_of(_event(session, tail[0]))
    custody_tree.record_leaf(session, seq - 1, leaf, prev_leaf)
    return event


def _event(session: Session, seq: int) -> CustodyEvent:
    event = session.get(CustodyEvent, seq)
    assert event is not None
    return event


def upgrade_log(session: Session, agent: str) -> int | None:
    """Make a log written before revision 0010 a Merkle log: store its subtree hashes and record the
    upgrade as an event (the old hash chain stays verifiable). Idempotent; returns the events upgraded."""
    _lock_chain(session)
    tail = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq.desc()).limit(1)).first()
    if tail is None or tail.format != 1:
        return None
    if session.scalar(select(CustodyNode.level).limit(1)) is None:
        custody_tree.store_nodes(session, (custody_tree.leaf_of(ev) for ev in _stream(session)))
    append(
        session,
        EventKind.LOG_UPGRADED,
        agent=agent,
        details={"format_1_events": tail.seq, "chain_head": tail.hash, "to_format": 2},
    )
    return tail.seq


def _stream(session: Session) -> Generator[CustodyEvent]:
    result = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq).execution_options(yield_per=2000))
    try:
        yield from result
    finally:
        result.close()  # a server-side cursor (PostgreSQL) must not outlive an early return


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
        "occurred_at": custody_tree.iso(ev.occurred_at),
        "details": json.loads(ev.details),
        "recorded_at": custody_tree.iso(ev.recorded_at or ev.occurred_at),
        "format": ev.format,
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }
