"""The upload-deadline report: who uploaded late in a period, by how much, and which lateness was excused.

A period is [from, to] in station-local calendar days; a recording counts in the period of its
``recorded_end``. Clips (made from a recording) are not counted: the deadline does not apply to them.
Each recording is exactly one of:

- doubtful: its time cannot be trusted, or nobody is known to have recorded it: the recording time
  comes only from the file's mtime, its ``recorded_end`` is after its ``received_at`` (the recorder's
  clock runs ahead), no officer is attributed, or the deadline was never judged. Never on time.
- on time: it reached the station at or before ``recorded_end`` + the deadline hours (the ``on_time``
  judged at ingest or attribution);
- excused: late, with an excuse that applies (evidence/excuses.py);
- late: late, without one.

``compliance_rate`` = (on_time + excused) / (recordings − doubtful), null when that is 0;
``median_late_s`` and ``max_late_s`` are over the (unexcused) late recordings.

Two exact ways to count, with the same answer:

- from the rollup (evidence/report_rollup.py), when it is built for the report's zone: the counts per
  group are sums of its per-day rows (its primary key starts with dimension and day); only the late
  recordings are read row by row (whether each is excused is decided now; the exact median and
  maximum), through the partial index ``ix_items_late``, and the doubtful ones for their list through
  ``ix_items_doubtful``: a year is a few thousand sums and its late rows, never every recording;
- from the rows, otherwise: one GROUP BY over the period's rows, which the index on
  ``items.recorded_end`` (``ix_items_recorded_end``) finds without reading other periods.
"""

from __future__ import annotations

import csv
import enum
import io
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, literal_column, not_, or_, select, true
from sqlalchemy.orm import Session

from evidence import access, excuses, report_rollup
from evidence.errors import InvalidInput
from evidence.items import iso
from evidence.models import DOUBTFUL, Excuse, Item, ReportRollup, TimeSource
from evidence.users import Principal

MAX_DAYS = 3660  # ten years: a longer period is a mistake, and the day grouping lists every day

COLUMNS = (
    "key",
    "recordings",
    "on_time",
    "late",
    "excused",
    "doubtful",
    "compliance_rate",
    "median_late_s",
    "max_late_s",
)

NO_OFFICER = "no officer attributed"
MTIME_ONLY = "recording time only from the file's mtime"
CLOCK_AHEAD = "recorded_end after received_at (the recorder's clock runs ahead)"
NOT_JUDGED = "upload deadline not judged"


class GroupBy(str, enum.Enum):
    OFFICER = "officer"
    UNIT = "unit"
    DEVICE = "device"
    STATION = "station"
    DAY = "day"


class Verdict(str, enum.Enum):
    DOUBTFUL = "doubtful"
    ON_TIME = "on_time"
    EXCUSED = "excused"
    LATE = "late"


def period_bounds(start: date, end: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end] station-local calendar days as UTC [first instant, first instant after)."""
    if end < start:
        raise InvalidInput("to: the period ends before it starts")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"the period is longer than {MAX_DAYS} days")
    try:
        return _midnight(start, zone), _midnight(end + timedelta(days=1), zone)
    except (OverflowError, ValueError) as exc:  # year 1 or 9999 west or east of UTC
        raise InvalidInput("from/to: out of range") from exc


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _doubt_flags() -> dict[str, ColumnElement[bool]]:
    return {
        NO_OFFICER: Item.officer_id.is_(None),
        MTIME_ONLY: func.coalesce(Item.time_source, "") == TimeSource.FILE_MTIME.value,
        CLOCK_AHEAD: Item.recorded_end > Item.received_at,
        NOT_JUDGED: Item.on_time.is_(None),
    }


def _group_key(group_by: GroupBy, start: date, end: date, zone: tzinfo) -> Any:
    if group_by is GroupBy.DAY:
        # station-local days as ranges of UTC instants (right across changes of offset), in SQL
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
            (Item.recorded_end < _midnight(d + timedelta(days=1), zone), literal_column(f"'{d}'")) for d in days
        ]
        return case(*whens, else_=None)
    return {
        GroupBy.OFFICER: Item.officer_id,
        GroupBy.UNIT: Item.unit,
        GroupBy.DEVICE: Item.device_serial,
        GroupBy.STATION: Item.station_id,
    }[group_by]


def _in_period(who: Principal | None, lo: datetime, hi: datetime) -> ColumnElement[bool]:
    scope = access.report_scope(who) if who is not None else true()
    # not clips; written so that no index on derived_from (null for nearly every row) tempts the planner
    not_a_clip = func.coalesce(Item.derived_from, 0) == 0
    return and_(Item.recorded_end >= lo, Item.recorded_end < hi, not_a_clip, scope)


def _rate(on_time: int, excused: int, judged: int) -> float | None:
    return None if judged == 0 else round((on_time + excused) / judged, 4)


def report(
    session: Session,
    who: Principal | None,
    start: date,
    end: date,
    *,
    group_by: GroupBy = GroupBy.OFFICER,
    zone: tzinfo,
    items: bool = True,
) -> dict[str, Any]:
    """The deadline report for the days [start, end] (station-local in ``zone``), grouped by
    ``group_by``, with the late and doubtful recordings listed unless ``items`` is False.

    ``who``: the reader (auditors: every unit; supervisors: their unit; others refused); None is
    the station's console, which reads every unit."""
    if who is not None:
        access.require(access.decide_reports(who), "deadline_report")
    lo, hi = period_bounds(start, end, zone)
    in_period = _in_period(who, lo, hi)
    doubtful = or_(*_doubt_flags().values())
    forgiven = excuses.in_force(session, lo, hi)
    if report_rollup.built_zone(session) == report_rollup.zone_name(zone):
        out_groups = _groups_from_rollup(session, who, start, end, group_by, zone, in_period, doubtful, forgiven)
    else:
        out_groups = _groups_from_rows(session, start, end, group_by, zone, in_period, doubtful)
    result: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "group_by": group_by.value,
        "groups": out_groups,
    }
    if items:
        result["late_items"] = _late_items(session, in_period, doubtful, forgiven)
        result["doubtful_items"] = _doubtful_items(session, in_period)
    return result


def _group(key: Any, on_time: int, late_n: int, excused_n: int, doubtful_n: int, median: Any, longest: Any) -> dict:
    recordings = on_time + late_n + excused_n + doubtful_n
    return {
        "key": key,
        "recordings": recordings,
        "on_time": on_time,
        "late": late_n,
        "excused": excused_n,
        "doubtful": doubtful_n,
        "compliance_rate": _rate(on_time, excused_n, recordings - doubtful_n),
        "median_late_s": None if median is None else round(float(median), 3),
        "max_late_s": None if longest is None else round(float(longest), 3),
    }


def _sort_key(key: Any) -> tuple[bool, Any]:
    return (key is None, key or "")


def _groups_from_rollup(
    session: Session,
    who: Principal | None,
    start: date,
    end: date,
    group_by: GroupBy,
    zone: tzinfo,
    in_period: ColumnElement[bool],
    doubtful: ColumnElement[bool],
    forgiven: excuses.InForce,
) -> list[dict[str, Any]]:
    """The groups from the rollup's sums and the period's late rows (see the module's docstring)."""
    r = ReportRollup
    by_day = group_by is GroupBy.DAY
    key_column: Any = r.day if by_day else r.key
    scope = access.report_scope(who, r.unit) if who is not None else true()
    sums = session.execute(
        select(key_column, func.sum(r.recordings), func.sum(r.doubtful), func.sum(r.on_time), func.sum(r.late))
        .where(r.dim == ("unit" if by_day else group_by.value), r.day >= start, r.day <= end, scope)
        .group_by(key_column)
        .having(func.sum(r.recordings) > 0)
    ).all()
    item_key: Any = Item.recorded_end if by_day else _group_key(group_by, start, end, zone)
    # the late rows, through ix_items_late (covering): only the columns needed to tell excused ones
    needed: list[Any] = [item_key, Item.late_by_s]
    if forgiven.by_item or forgiven.windows:
        needed += [Item.id, Item.officer_id, Item.device_serial, Item.recorded_end]
    late_rows = session.execute(select(*needed).where(in_period, Item.on_time == false(), not_(doubtful))).all()
    excused_n: Counter[Any] = Counter()
    late_by: dict[Any, list[float]] = {}
    for row in late_rows:
        k = row[0].astimezone(zone).date().isoformat() if by_day else row[0]
        if len(row) > 2 and forgiven.applicable(row[2], row[3], row[4], row[5]) is not None:
            excused_n[k] += 1
        else:
            late_by.setdefault(k, []).append(row[1])
    out = []
    for k, _recordings, doubtful_n, on_time, late_all in sums:
        key = k.isoformat() if by_day else (None if k == report_rollup.NONE else k)
        values = sorted(late_by.get(key, []))
        n = len(values)
        median = None if n == 0 else (values[(n - 1) // 2] + values[n // 2]) / 2
        out.append(
            _group(
                key, on_time, late_all - excused_n[key], excused_n[key], doubtful_n, median, values[-1] if n else None
            )
        )
    return sorted(out, key=lambda g: _sort_key(g["key"]))


def _groups_from_rows(
    session: Session,
    start: date,
    end: date,
    group_by: GroupBy,
    zone: tzinfo,
    in_period: ColumnElement[bool],
    doubtful: ColumnElement[bool],
) -> list[dict[str, Any]]:
    """The groups from the period's rows, each recording's verdict worked out in SQL."""
    excused = select(Excuse.id).where(excuses.applies_clause()).exists()
    verdict = case(
        (doubtful, literal(Verdict.DOUBTFUL.value)),
        (Item.on_time.is_(True), literal(Verdict.ON_TIME.value)),
        (excused, literal(Verdict.EXCUSED.value)),
        else_=literal(Verdict.LATE.value),
    )
    rows = (
        select(
            _group_key(group_by, start, end, zone).label("key"),
            verdict.label("verdict"),
            Item.late_by_s.label("late_by_s"),
        )
        .where(in_period)
        .subquery("judged")
    )

    late = rows.c.verdict == Verdict.LATE.value
    # one row per group and verdict (each recording's verdict worked out once), folded below
    counted = session.execute(
        select(rows.c.key, rows.c.verdict, func.count(), func.max(rows.c.late_by_s)).group_by(
            rows.c.key, rows.c.verdict
        )
    ).all()
    groups: dict[Any, dict[str, Any]] = {}
    for key, v, n, longest in counted:
        group = groups.setdefault(key, {"key": key, "max_late_s": None, **dict.fromkeys(Verdict.__members__, 0)})
        group[Verdict(v).name] = n
        if v == Verdict.LATE.value:
            group["max_late_s"] = longest
    # the median of each group's late recordings: the middle one (or the two middle ones' mean) by rank
    ranked = (
        select(
            rows.c.key,
            rows.c.late_by_s,
            func.row_number().over(partition_by=rows.c.key, order_by=rows.c.late_by_s).label("rank"),
            func.count().over(partition_by=rows.c.key).label("n"),
        )
        .where(late)
        .subquery("ranked")
    )
    medians = dict(
        session.execute(
            select(ranked.c.key, func.avg(ranked.c.late_by_s))
            .where(ranked.c.rank * 2 >= ranked.c.n, ranked.c.rank * 2 <= ranked.c.n + 2)
            .group_by(ranked.c.key)
        ).all()
    )
    out = []
    for key in sorted(groups, key=_sort_key):
        g = groups[key]
        out.append(_group(key, g["ON_TIME"], g["LATE"], g["EXCUSED"], g["DOUBTFUL"], medians.get(key), g["max_late_s"]))
    return out


def _late_items(
    session: Session, in_period: ColumnElement[bool], doubtful: ColumnElement[bool], forgiven: excuses.InForce
) -> list[dict]:
    """Every late recording of the period (excused or not), oldest first, with its excuse if any."""
    found = session.execute(
        select(
            Item.id,
            Item.officer_id,
            Item.unit,
            Item.device_serial,
            Item.recorded_end,
            Item.received_at,
            Item.late_by_s,
        )
        .where(in_period, not_(doubtful), Item.on_time == false())  # ix_items_late
        .order_by(Item.recorded_end, Item.id)
    ).all()
    out = []
    for r in found:
        excuse = forgiven.applicable(r.id, r.officer_id, r.device_serial, r.recorded_end)
        out.append(
            {
                "id": r.id,
                "officer_id": r.officer_id,
                "unit": r.unit,
                "device_serial": r.device_serial,
                "recorded_end": iso(r.recorded_end),
                "received_at": iso(r.received_at),
                "late_by_s": r.late_by_s,
                "excused": excuse is not None,
                "excuse_reason": excuse.reason if excuse else None,
                "excused_by": excuse.approved_by if excuse else None,
            }
        )
    return out


def _doubtful_items(session: Session, in_period: ColumnElement[bool]) -> list[dict]:
    """Every doubtful recording of the period, oldest first, with every reason that applies (found
    through ``ix_items_doubtful``: ``DOUBTFUL`` is the same condition as the flags, word for word
    the index's)."""
    flags = _doubt_flags()
    found = session.execute(
        select(Item.id, *(flag.label(f"f{n}") for n, flag in enumerate(flags.values())))
        .where(in_period, DOUBTFUL)
        .order_by(Item.recorded_end, Item.id)
    ).all()
    names = list(flags)
    return [{"id": r.id, "reason": "; ".join(name for n, name in enumerate(names) if r[n + 1])} for r in found]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def as_csv(result: dict[str, Any]) -> str:
    """One row per group, the columns of the JSON groups (empty for null)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for g in result["groups"]:
        writer.writerow([_cell(g[c]) for c in COLUMNS])
    return buffer.getvalue()


def as_table(result: dict[str, Any]) -> str:
    """The same columns as the CSV, aligned, under a title line (``—`` for null)."""
    header = [c if c != "key" else result["group_by"] for c in COLUMNS]
    rows = [[_cell(g[c]) or "—" for c in COLUMNS] for g in result["groups"]]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = [
        f"upload deadline report {result['from']} … {result['to']} by {result['group_by']}",
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))),
    ]
    for row in rows:
        lines.append(
            "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths, strict=True)))
        )
    if not rows:
        lines.append("(no recordings in this period)")
    return "\n".join(lines) + "\n"
