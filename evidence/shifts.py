"""Officers' duty periods (shifts): when an officer has any, only time on duty counts toward an
overdue recorder (evidence/overdue.py).

Shifts are not evidence, so they make no custody events; each row records who added it
(``created_by``) and how (``source``: cli, api or import).

Overlaps are refused, not merged: a shift that overlaps another of the same officer (touching end
to start is fine) is a ``Conflict`` naming the one already there. Merging would silently change a
recorded duty period; refusing leaves the decision to the person entering them. A CSV import is
all-or-nothing: every row is checked (times, order, overlaps with stored shifts and with the
file's other rows), and one bad row rejects the whole file with every problem listed by line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from evidence import access
from evidence.errors import Conflict, InvalidInput
from evidence.items import iso, time_filter
from evidence.models import DeviceAssignment, Shift, User
from evidence.users import Principal, Role

SOURCES = ("cli", "api", "import")
CSV_COLUMNS = ("officer_id", "from", "to")
MAX_IMPORT_ERRORS = 50  # listed in the refusal; more are counted


@dataclass(frozen=True)
class Period:
    """One shift to be added: the officer and [starts_at, ends_at) in UTC."""

    officer_id: str
    starts_at: datetime
    ends_at: datetime


def check(officer_id: str, starts_at: datetime, ends_at: datetime) -> Period:
    """A valid period, or ``InvalidInput`` saying what is wrong."""
    officer_id = officer_id.strip()
    if not officer_id:
        raise InvalidInput("officer id must not be empty")
    if len(officer_id) > 64:
        raise InvalidInput("officer id is longer than 64 characters")
    for name, moment in (("from", starts_at), ("to", ends_at)):
        if moment.tzinfo is None:
            raise InvalidInput(f"{name}: a time needs a zone")
    if ends_at <= starts_at:
        raise InvalidInput("a shift must end after it starts (to > from)")
    return Period(officer_id, time_filter(starts_at, "from"), time_filter(ends_at, "to"))


def officer_units(session: Session, officer_id: str) -> set[str]:
    """The units ``officer_id`` belongs to: their user accounts' units and the units of the
    recorders assigned to them now."""
    users = session.scalars(select(User.unit).where(User.officer_id == officer_id))
    carried = session.scalars(
        select(DeviceAssignment.unit).where(
            DeviceAssignment.officer_id == officer_id,
            DeviceAssignment.until.is_(None),
            DeviceAssignment.unit.is_not(None),
        )
    )
    return {u for u in (*users, *carried) if u}


def _overlapping(session: Session, period: Period) -> Shift | None:
    return session.scalars(
        select(Shift)
        .where(
            Shift.officer_id == period.officer_id,
            Shift.starts_at < period.ends_at,
            Shift.ends_at > period.starts_at,
        )
        .order_by(Shift.starts_at)
    ).first()


def _clash(period: Period, other: Shift | Period) -> str:
    return (
        f"officer {period.officer_id}: {iso(period.starts_at)}–{iso(period.ends_at)} overlaps the shift "
        f"{iso(other.starts_at)}–{iso(other.ends_at)}"
    )


def add(
    session: Session,
    officer_id: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    created_by: str,
    source: str,
    who: Principal | None = None,
) -> Shift:
    """Record one shift. ``who``: the API user (checked by ``access.decide_add_shift``); None at the
    station's console. Overlapping another shift of the officer is a ``Conflict``."""
    if source not in SOURCES:
        raise InvalidInput(f"unknown shift source {source!r}")
    period = check(officer_id, starts_at, ends_at)
    if who is not None:
        units = officer_units(session, period.officer_id)
        access.require(access.decide_add_shift(who, units), "add_shift", officer_id=period.officer_id)
    clash = _overlapping(session, period)
    if clash is not None:
        raise Conflict(_clash(period, clash))
    row = Shift(
        officer_id=period.officer_id,
        starts_at=period.starts_at,
        ends_at=period.ends_at,
        source=source,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def parse_time(text: str, zone: tzinfo) -> datetime:
    """An ISO 8601 time from a file or form: with its zone, or station-local (``zone``) without."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return time_filter(moment, text)


def read_csv(text: str, zone: tzinfo) -> tuple[list[tuple[int, Period]], list[str]]:
    """Rows of a shifts CSV (header ``officer_id,from,to``) as (line, period), and the problems found,
    each naming its line. Times without a zone are station-local (``zone``)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))  # spreadsheets often write a BOM
    problems: list[str] = []
    header = next(reader, None)
    names = [h.strip().lower() for h in header] if header else []
    if names[: len(CSV_COLUMNS)] != list(CSV_COLUMNS) or any(names[len(CSV_COLUMNS) :]):
        return [], [f"line 1: the header must be {','.join(CSV_COLUMNS)}, found {','.join(names) or 'nothing'}"]
    periods: list[tuple[int, Period]] = []
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # blank lines are allowed
        if len(fields) != len(CSV_COLUMNS):
            problems.append(f"line {line}: expected {len(CSV_COLUMNS)} fields, found {len(fields)}")
            continue
        officer, start, end = fields
        try:
            periods.append((line, check(officer, parse_time(start, zone), parse_time(end, zone))))
        except InvalidInput as exc:
            problems.append(f"line {line}: {exc}")
    return periods, problems


def import_csv(
    session: Session, text: str, zone: tzinfo, *, created_by: str, who: Principal | None = None
) -> list[Shift]:
    """Add every shift of a CSV file, or none: ``InvalidInput`` lists each bad line (bad times,
    ``to`` not after ``from``, overlaps with stored shifts or other lines, refusals)."""
    periods, problems = read_csv(text, zone)
    if not periods and not problems:
        problems.append("the file holds no shifts")
    problems.extend(_import_conflicts(session, periods, who))
    problems.sort(key=_line_of)
    if problems:
        shown = problems[:MAX_IMPORT_ERRORS]
        more = len(problems) - len(shown)
        tail = f"\n… and {more} more" if more else ""
        raise InvalidInput(f"nothing imported: {len(problems)} problem(s) in the file\n" + "\n".join(shown) + tail)
    added = []
    for _, period in periods:
        row = Shift(
            officer_id=period.officer_id,
            starts_at=period.starts_at,
            ends_at=period.ends_at,
            source="import",
            created_by=created_by,
        )
        session.add(row)
        added.append(row)
    session.flush()
    return added


def _import_conflicts(session: Session, periods: list[tuple[int, Period]], who: Principal | None) -> list[str]:
    problems: list[str] = []
    units: dict[str, set[str]] = {}
    by_officer: dict[str, list[tuple[int, Period]]] = {}
    for line, period in periods:
        by_officer.setdefault(period.officer_id, []).append((line, period))
    for officer, rows in by_officer.items():
        if who is not None:
            units[officer] = officer_units(session, officer)
            decision = access.decide_add_shift(who, units[officer])
            if not decision.allowed:
                problems.extend(f"line {line}: {decision.reason}" for line, _ in rows)
                continue
        rows.sort(key=lambda r: r[1].starts_at)
        for (_, before), (line, after) in zip(rows, rows[1:], strict=False):
            if after.starts_at < before.ends_at:
                problems.append(f"line {line}: {_clash(after, before)} (in the file)")
        stored = _stored_shifts(session, officer, rows[0][1].starts_at, max(p.ends_at for _, p in rows))
        for line, period in rows:
            clash = next((s for s in stored if s.starts_at < period.ends_at and s.ends_at > period.starts_at), None)
            if clash is not None:
                problems.append(f"line {line}: {_clash(period, clash)}")
    return problems


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0].removeprefix("line ")
    return int(head) if head.isdigit() else 0


def _stored_shifts(session: Session, officer_id: str, start: datetime, end: datetime) -> list[Shift]:
    return list(
        session.scalars(
            select(Shift).where(Shift.officer_id == officer_id, Shift.starts_at < end, Shift.ends_at > start)
        )
    )


def visible_shifts(who: Principal) -> ColumnElement[bool]:
    """SQL condition for the shifts ``who`` may list: admins and auditors all; supervisors those of
    their unit's officers; officers their own."""
    if Role.ADMIN in who.roles or Role.AUDITOR in who.roles:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if Role.SUPERVISOR in who.roles:
        clauses.append(Shift.officer_id.in_(unit_officers(who.unit)))
    if Role.OFFICER in who.roles and who.officer_id:
        clauses.append(Shift.officer_id == who.officer_id)
    return or_(*clauses) if clauses else false()


def unit_officers(unit: str) -> Any:
    """A subquery of the officer ids of ``unit``: its users' and those carrying its recorders now."""
    return (
        select(User.officer_id)
        .where(User.unit == unit, User.officer_id.is_not(None))
        .union(
            select(DeviceAssignment.officer_id).where(DeviceAssignment.unit == unit, DeviceAssignment.until.is_(None))
        )
    )


def list_shifts(
    session: Session,
    *,
    officer_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    who: Principal | None = None,
    limit: int = 1000,
) -> list[Shift]:
    """Shifts by start time, those ending after ``since`` and starting before ``until``; for ``who``
    (an API user) only the ones they may see (``access.decide_list_shifts``)."""
    query = select(Shift).order_by(Shift.starts_at, Shift.officer_id).limit(limit)
    if who is not None:
        access.require(access.decide_list_shifts(who), "list_shifts")
        query = query.where(visible_shifts(who))
    if officer_id:
        query = query.where(Shift.officer_id == officer_id)
    if since is not None:
        query = query.where(Shift.ends_at > time_filter(since, "from"))
    if until is not None:
        query = query.where(Shift.starts_at < time_filter(until, "to"))
    return list(session.scalars(query))


def shift_view(row: Shift) -> dict[str, Any]:
    return {
        "id": row.id,
        "officer_id": row.officer_id,
        "from": iso(row.starts_at),
        "to": iso(row.ends_at),
        "hours": round((row.ends_at - row.starts_at).total_seconds() / 3600, 3),
        "source": row.source,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
    }


def views(rows: Iterable[Shift]) -> list[dict[str, Any]]:
    return [shift_view(r) for r in rows]
