"""The auditors' dashboard: upload-deadline compliance over time, late uploads, overdue recorders,
excuses, the custody log's checkpoints and fixity alarms; each table also as CSV.

Auditors see every unit, supervisors their unit's (the reports API's rule: evidence/access.py
``decide_reports``). Every figure links to the items behind it on the search page (/items, whose
URL filters are the names of ``GET /api/v1/items``'s)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api import guard
from api.deps import ClientDep, ServicesDep
from api.web import chart, i18n
from api.web.render import render
from api.web.signed_in import PageUser
from evidence import access, custody_state, deadline_report, excuses, fixity, overdue
from evidence.checkpoint import VerifierKey
from evidence.deadline_report import GroupBy
from evidence.errors import InvalidInput, NotFound
from evidence.items import iso
from evidence.models import utcnow
from evidence.users import Principal

router = APIRouter(include_in_schema=False)

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years a page (a chart of weeks); the reports API takes longer periods
MAX_ROWS = 1000  # rows a table lists (the CSV has them all up to the same bound)
BOM = "\ufeff"  # so that Excel reads the CSV as UTF-8 (Chinese reasons, names)


@dataclass(frozen=True)
class Period:
    start: date  # first station-local day
    end: date  # last station-local day (included)
    compliance: dict[str, int]  # on_time, late, excused, doubtful, recordings
    href: str  # the recordings of the period on the search page
    late_href: str  # its late ones

    @property
    def judged(self) -> int:
        return self.compliance["recordings"] - self.compliance["doubtful"]

    @property
    def rate(self) -> float | None:
        judged = self.judged
        return None if judged == 0 else (self.compliance["on_time"] + self.compliance["excused"]) / judged


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


class Links:
    """Addresses on the search page (/items) for the figures of one reader."""

    def __init__(self, who: Principal, zone: tzinfo) -> None:
        # a supervisor's figures count their unit's recordings: the search narrowed the same way
        self.base: dict[str, str] = {} if access.sees_every_unit(who) else {"unit": who.unit}
        self.zone = zone

    def items(self, **filters: Any) -> str:
        wanted = {**self.base, **{k: v for k, v in filters.items() if v is not None}}
        return "/items?" + urlencode(wanted)

    def days(self, start: date, end: date, **filters: Any) -> str:
        lo, hi = deadline_report.period_bounds(start, end, self.zone)
        return self.items(recorded_from=iso(lo), recorded_to=iso(hi), **filters)

    @staticmethod
    def item(item_id: int) -> str:
        return f"/items/{item_id}"


def _periods(groups: list[dict[str, Any]], start: date, end: date, weekly: bool, links: Links) -> list[Period]:
    """The report's days folded into days or (Monday-first) weeks, every one of [start, end] shown."""
    by_day = {date.fromisoformat(g["key"]): g for g in groups if g["key"]}
    out = []
    first = start - timedelta(days=start.weekday()) if weekly else start
    step = timedelta(days=7 if weekly else 1)
    cursor = first
    while cursor <= end:
        lo, hi = max(cursor, start), min(cursor + step - timedelta(days=1), end)
        sums = dict.fromkeys(("recordings", "on_time", "late", "excused", "doubtful"), 0)
        day = lo
        while day <= hi:
            g = by_day.get(day)
            if g:
                for k in sums:
                    sums[k] += g[k]
            day += timedelta(days=1)
        out.append(Period(lo, hi, sums, links.days(lo, hi), links.days(lo, hi, on_time="false")))
        cursor += step
    return out


def gather(
    session: Session,
    who: Principal,
    start: date,
    end: date,
    weekly: bool,
    zone: tzinfo,
    hours: float,
    verifier: VerifierKey,
) -> dict[str, Any]:
    """Everything the dashboard shows, read in one transaction (a refusal raised by the first read)."""
    report = deadline_report.report(session, who, start, end, group_by=GroupBy.DAY, zone=zone, items=True)
    links = Links(who, zone)
    late = report["late_items"] or []
    return {
        "periods": _periods(report["groups"], start, end, weekly, links),
        "late": late[:MAX_ROWS],
        "late_total": len(late),
        "doubtful": len(report["doubtful_items"] or []),
        "overdue": overdue.report_for(session, who, utcnow(), hours)[:MAX_ROWS],
        "excuses": [excuses.excuse_view(e) for e in excuses.list_excuses(session, who, active=True)],
        "fixity": fixity.alarms(session, access.report_scope(who), MAX_ROWS),
        # the log is the whole system's, not a unit's: for auditors
        "custody": custody_state.state(session, verifier) if access.sees_every_unit(who) else None,
        "links": links,
    }


def _choose_period(svc_zone: tzinfo, start: date | None, end: date | None) -> tuple[date, date]:
    """[from, to] as asked; a missing end is DEFAULT_DAYS on (not past today), a missing start
    DEFAULT_DAYS back; the last DEFAULT_DAYS days by default."""
    today = datetime.now(svc_zone).date()
    span = timedelta(days=DEFAULT_DAYS - 1)
    if end is None:
        end = today if start is None else max(start, min(today, start + span))
    start = start or end - span
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"the dashboard shows at most {MAX_DAYS} days; the deadline report API takes longer periods")
    return start, end


FromQuery = Annotated[date | None, Query(alias="from")]
ToQuery = Annotated[date | None, Query(alias="to")]
ByQuery = Annotated[str | None, Query(alias="by", pattern="^(day|week)$")]


def _read(
    svc: Any, who: Principal, client: str, start: date | None, end: date | None, by: str | None
) -> tuple[dict[str, Any], date, date, bool]:
    zone = svc.settings.zone
    start, end = _choose_period(zone, start, end)
    weekly = by == "week" if by else (end - start).days > 62
    data = guard.run(
        svc,
        who,
        client,
        lambda s: gather(s, who, start, end, weekly, zone, svc.settings.deadline_hours, svc.verifier),
        svc.reads,
    )
    return data, start, end, weekly


@router.get("/audit")
def audit_page(
    svc: ServicesDep,
    request: Request,
    who: PageUser,
    client: ClientDep,
    start: FromQuery = None,
    end: ToQuery = None,
    by: ByQuery = None,
) -> Response:
    data, start, end, weekly = _read(svc, who, client, start, end, by)
    _ = i18n.translations(i18n.choice(request)).gettext
    bars = [
        chart.Bar(
            label=p.start.strftime("%m-%d"),
            value=p.rate,
            href=p.href,
            tip=_("%(start)s – %(end)s: %(rate)s on time (%(ok)s of %(judged)s)")
            % {
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "rate": "—" if p.rate is None else f"{p.rate:.0%}",
                "ok": p.compliance["on_time"] + p.compliance["excused"],
                "judged": p.judged,
            },
        )
        for p in data["periods"]
    ]
    title = _("On-time share per week") if weekly else _("On-time share per day")
    svg = chart.share_bars(bars, title, _("No recordings in this period"))
    totals = {k: sum(p.compliance[k] for p in data["periods"]) for k in data["periods"][0].compliance}
    judged = totals["recordings"] - totals["doubtful"]
    rate = None if judged == 0 else (totals["on_time"] + totals["excused"]) / judged
    query = {"from": start.isoformat(), "to": end.isoformat(), "by": "week" if weekly else "day"}
    return render(
        request,
        "audit.html",
        who=who,
        start=start,
        end=end,
        weekly=weekly,
        chart_svg=svg,
        chart_title=title,
        totals=totals,
        rate=rate,
        all_units=access.sees_every_unit(who),
        csv_query=urlencode(query),
        when=_when,
        **data,
    )


# -- CSV ---------------------------------------------------------------------


def _csv(columns: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def _table_compliance(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    cols = ["from", "to", "recordings", "on_time", "late", "excused", "doubtful", "compliance_rate"]
    rows = [
        [p.start.isoformat(), p.end.isoformat(), *(p.compliance[k] for k in cols[2:7])]
        + [None if p.rate is None else round(p.rate, 4)]
        for p in data["periods"]
    ]
    return cols, rows


def _dict_table(key: str, cols: list[str]) -> Callable[[dict[str, Any]], tuple[list[str], list[list[Any]]]]:
    return lambda data: (cols, [[row[c] for c in cols] for row in data[key]])


TABLES: dict[str, Callable[[dict[str, Any]], tuple[list[str], list[list[Any]]]]] = {
    "compliance": _table_compliance,
    "late": _dict_table(
        "late",
        [
            "id",
            "officer_id",
            "unit",
            "device_serial",
            "recorded_end",
            "received_at",
            "late_by_s",
            "excused",
            "excuse_reason",
            "excused_by",
        ],
    ),
    "overdue": _dict_table("overdue", list(overdue.COLUMNS)),
    "excuses": _dict_table(
        "excuses",
        ["id", "item_id", "officer_id", "device_serial", "from", "to", "reason", "approved_by", "approved_at"],
    ),
    "fixity": _dict_table("fixity", ["id", "officer_id", "unit", "device_serial", "recorded_end", "fixity_checked_at"]),
}


@router.get("/audit/{table}.csv")
def audit_csv(
    svc: ServicesDep,
    who: PageUser,
    client: ClientDep,
    table: str,
    start: FromQuery = None,
    end: ToQuery = None,
    by: ByQuery = None,
) -> Response:
    if table not in TABLES:
        raise NotFound(f"no table {table!r}; tables are {', '.join(TABLES)}")
    data, start, end, _weekly = _read(svc, who, client, start, end, by)
    columns, rows = TABLES[table](data)
    name = f"audit-{table}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        _csv(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
