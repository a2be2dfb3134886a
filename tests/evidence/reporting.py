"""Crafted recordings with known answers, for the deadline report and excuse tests."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from evidence import report_rollup
from evidence.deadlines import check_deadline
from evidence.models import Item

HOURS = 24
_serial = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def recording(
    session: Session,
    end: datetime,
    late_s: float = -3600,
    *,
    officer: str | None = "110001",
    unit: str | None = "U1",
    device: str | None = "ZFY0001",
    station: str = "ST01",
    time_source: str = "container",
    received_at: datetime | None = None,
    derived_from: int | None = None,
    counted: bool = True,
) -> Item:
    """An item that ended at ``end`` and arrived ``late_s`` seconds after its deadline (negative: early),
    judged the way ingest judges it, and counted in the report rollup as ingest counts it (unless
    ``counted`` is False: a row written in bulk, which only a rebuild counts)."""
    n = next(_serial)
    received = received_at or end + timedelta(hours=HOURS, seconds=late_s)
    check = check_deadline(end, received, HOURS, attributed=device is not None)
    item = Item(
        sha256=hashlib.sha256(f"crafted {n} {end} {late_s}".encode()).hexdigest(),
        size_bytes=1000,
        object_key=f"originals/{n}",
        original_filename=f"{n}.mp4",
        source_path=f"{device}/{n}.mp4",
        source_mtime=end,
        device_serial=device,
        officer_id=officer,
        unit=unit,
        station_id=station,
        received_at=received,
        stored_at=received,
        recorded_start=end - timedelta(minutes=5),
        recorded_end=end,
        duration_s=300.0,
        time_source=time_source,
        upload_deadline=check.deadline,
        on_time=check.on_time,
        late_by_s=check.late_by_s,
        status="ready",
        derived_from=derived_from,
    )
    session.add(item)
    session.flush()
    if counted:
        report_rollup.update(session, None, item)
    return item
