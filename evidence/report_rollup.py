"""The deadline report's rollup: exact counts per station-local day, so that a long period (a year)
is read as a few thousand sums instead of every recording.

``report_rollup`` holds, per (dimension, day, unit, key), how many recordings ended that day and how
many of them were doubtful, on time and late (excused or not: excuses are decided when the report
runs), for the dimensions officer, unit, device and station (the day grouping reads the unit rows).
``unit`` is there for supervisors' scope. Clips and recordings without ``recorded_end`` never count.

It is kept exact in the same transaction as the facts that change it: whoever changes a recording's
times, verdict, officer, unit, recorder or station takes ``contribution(item)`` before and calls
``update(session, before, item)`` after (ingest's assessment, attribution after the fact). It is
used only when built (``rebuild``) for the zone the report asks for: its days are station-local days
of the zone stored in ``report_rollup_state``; after a change of EVIDENCE_TIMEZONE the reports read
rows again (still exact, slower) until ``evidence report rebuild`` is run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from evidence import unit_of_work
from evidence.errors import InvalidInput
from evidence.models import Item, ReportRollup, ReportRollupState, TimeSource, utcnow

DIMENSIONS = ("officer", "unit", "device", "station")
STATE_ID = 1
NONE = ""  # a key or unit that is null
COUNTS = ("recordings", "doubtful", "on_time", "late")


def zone_name(zone: tzinfo) -> str:
    """How a zone is stored: its IANA key (``Asia/Shanghai``) or, for other tzinfo, its str()."""
    return str(getattr(zone, "key", None) or zone)


@dataclass(frozen=True)
class Contribution:
    """What one recording adds to the rollup: its day, its keys and its verdict."""

    day: date
    unit: str
    keys: tuple[tuple[str, str], ...]  # (dimension, key)
    verdict: str  # doubtful | on_time | late


def _verdict(
    officer_id: str | None, time_source: str | None, end: datetime, received: datetime, on_time: bool | None
) -> str:
    """The report's verdict without excuses; the same rule as evidence/deadline_report.py's SQL."""
    doubtful = (
        officer_id is None or (time_source or "") == TimeSource.FILE_MTIME.value or end > received or on_time is None
    )
    if doubtful:
        return "doubtful"
    return "on_time" if on_time else "late"


def _of(
    zone: tzinfo,
    end: datetime | None,
    received: datetime,
    officer_id: str | None,
    unit: str | None,
    device: str | None,
    station: str,
    time_source: str | None,
    on_time: bool | None,
    derived_from: int | None,
) -> Contribution | None:
    if derived_from is not None or end is None:
        return None
    u = unit or NONE
    keys = (("officer", officer_id or NONE), ("unit", u), ("device", device or NONE), ("station", station or NONE))
    return Contribution(end.astimezone(zone).date(), u, keys, _verdict(officer_id, time_source, end, received, on_time))


def _zone(session: Session, *, lock: bool) -> tzinfo | None:
    """The rollup's zone, or None when it is not built (or being rebuilt). ``lock``: hold the
    state row shared, so that a rebuild waits for this transaction (PostgreSQL)."""
    query = select(ReportRollupState.zone).where(ReportRollupState.id == STATE_ID)
    if lock:
        query = query.with_for_update(read=True)
    name = session.scalar(query)
    return None if name is None else ZoneInfo(name)


def built_zone(session: Session) -> str | None:
    """The name of the zone the rollup is built for, or None when it cannot be used."""
    return session.scalar(select(ReportRollupState.zone).where(ReportRollupState.id == STATE_ID))


def contribution(session: Session, item: Item) -> Contribution | None:
    """What ``item`` adds to the rollup now (None when it adds nothing or there is no rollup)."""
    zone = _zone(session, lock=True)
    if zone is None:
        return None
    return _of(
        zone,
        item.recorded_end,
        item.received_at,
        item.officer_id,
        item.unit,
        item.device_serial,
        item.station_id,
        item.time_source,
        item.on_time,
        item.derived_from,
    )


def update(session: Session, before: Contribution | None, item: Item) -> None:
    """Replace ``before`` (from ``contribution`` taken before the change) by what ``item`` adds now."""
    after = contribution(session, item)
    if before == after:
        return
    changes: Counter[tuple[str, date, str, str, str]] = Counter()
    for c, sign in ((before, -1), (after, 1)):
        if c is not None:
            for dim, key in c.keys:
                changes[(dim, c.day, c.unit, key, "recordings")] += sign
                changes[(dim, c.day, c.unit, key, c.verdict)] += sign
    _add(session, changes)


def _add(session: Session, changes: Counter[tuple[str, date, str, str, str]]) -> None:
    rows: dict[tuple[str, date, str, str], dict[str, int]] = {}
    for (dim, day, unit, key, what), n in changes.items():
        rows.setdefault((dim, day, unit, key), dict.fromkeys(COUNTS, 0))[what] += n
    if not rows:
        return
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for (dim, day, unit, key), counts in sorted(rows.items()):
        stmt = upsert(ReportRollup).values(dim=dim, day=day, unit=unit, key=key, **counts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["dim", "day", "unit", "key"],
            set_={c: getattr(ReportRollup, c) + getattr(stmt.excluded, c) for c in COUNTS},
        )
        session.execute(stmt)


def prepare(session: Session) -> None:
    """Create the state row (no zone: not usable yet) if missing, in a transaction before ``rebuild``:
    from its commit on, every transaction that judges a recording takes the row's shared lock."""
    # an upsert, not a check and an insert: roles starting together on a new database each found no
    # row, and all but one died on the duplicate key
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(upsert(ReportRollupState).values(id=STATE_ID, zone=None).on_conflict_do_nothing())


def rebuild(session: Session, zone: tzinfo) -> int:
    """Count every recording again into an empty rollup for ``zone``; returns how many were counted.

    Run in its own transaction, after ``prepare``'s: it locks the state row, so transactions that
    judge recordings wait for it, and it waits for those under way (its count then includes them)."""
    try:
        ZoneInfo(zone_name(zone))
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise InvalidInput(f"the rollup needs a named time zone (IANA), not {zone_name(zone)!r}") from exc
    state = session.scalars(select(ReportRollupState).where(ReportRollupState.id == STATE_ID).with_for_update()).first()
    if state is None:
        state = ReportRollupState(id=STATE_ID)
        session.add(state)
    session.execute(delete(ReportRollup))
    counts: dict[tuple[str, date, str, str], dict[str, int]] = {}
    counted = 0
    query = select(
        Item.recorded_end,
        Item.received_at,
        Item.officer_id,
        Item.unit,
        Item.device_serial,
        Item.station_id,
        Item.time_source,
        Item.on_time,
        Item.derived_from,
    ).where(Item.recorded_end.is_not(None), Item.derived_from.is_(None))
    for row in session.execute(query.execution_options(yield_per=20_000)):
        c = _of(zone, *row)
        if c is None:
            continue
        counted += 1
        for dim, key in c.keys:
            slot = counts.setdefault((dim, c.day, c.unit, key), dict.fromkeys(COUNTS, 0))
            slot["recordings"] += 1
            slot[c.verdict] += 1
    _insert_all(session, counts.items())
    state.zone, state.built_at = zone_name(zone), utcnow()
    session.flush()
    session.execute(text("ANALYZE report_rollup"))  # plans by its new size (both databases allow it here)
    return counted


def ensure_built(sessions: sessionmaker[Session], zone: tzinfo) -> int | None:
    """Build the rollup for ``zone`` if it was never built (a new database, or one just upgraded);
    returns how many recordings were counted, or None when it was built already.

    A new database costs nothing; an upgraded one is counted once (about 30 s per million recordings).
    A rollup built for another zone is left alone: changing EVIDENCE_TIMEZONE is an operator's act,
    and `evidence report rebuild` follows it.
    """
    if unit_of_work.run(sessions, built_zone) is not None:
        return None
    unit_of_work.run(sessions, prepare)
    return unit_of_work.run(sessions, lambda session: _build_unless_built(session, zone))


def _build_unless_built(session: Session, zone: tzinfo) -> int | None:
    """``rebuild``, unless another process starting at the same time built it while this one waited for the lock."""
    locked = select(ReportRollupState.zone).where(ReportRollupState.id == STATE_ID).with_for_update()
    if session.scalars(locked).first() is not None:
        return None
    return rebuild(session, zone)


def _insert_all(session: Session, counts: Iterable[tuple[tuple[str, date, str, str], dict[str, int]]]) -> None:
    batch: list[dict[str, object]] = []
    for (dim, day, unit, key), n in counts:
        batch.append({"dim": dim, "day": day, "unit": unit, "key": key, **n})
        if len(batch) == 10_000:
            session.execute(insert(ReportRollup), batch)
            batch = []
    if batch:
        session.execute(insert(ReportRollup), batch)
