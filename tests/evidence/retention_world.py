"""Crafted items for the retention and sweeper tests: rows with known times, no ingest needed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from evidence import cases
from evidence.models import Case, Item, ItemStatus
from evidence.objectstore import derived_key, original_key

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # when the crafted recordings end
AGENT = "test"


def day(n: float) -> datetime:
    """``n`` days after T0."""
    return T0 + timedelta(days=n)


def add_item(
    session: Session,
    name: str,
    recorded_end: datetime | None = T0,
    status: ItemStatus = ItemStatus.READY,
    error: str | None = None,
    unit: str = "U1",
) -> Item:
    sha = hashlib.sha256(name.encode()).hexdigest()
    received = (recorded_end or T0) + timedelta(hours=2)
    item = Item(
        sha256=sha,
        size_bytes=len(name),
        object_key=original_key(sha),
        original_filename=f"{name}.mp4",
        source_path=f"ZFY0001/{name}.mp4",
        source_mtime=received,
        device_serial="ZFY0001",
        officer_id="110001",
        unit=unit,
        station_id="ST01",
        received_at=received,
        stored_at=received,
        recorded_start=None if recorded_end is None else recorded_end - timedelta(minutes=5),
        recorded_end=recorded_end,
        status=status.value,
        error=error,
        proxy_key=derived_key(sha, "proxy.mp4"),
        poster_key=derived_key(sha, "poster.jpg"),
    )
    session.add(item)
    session.flush()
    return item


def add_case(session: Session, number: str = "2026-031", unit: str = "U1") -> Case:
    return cases.open_case(session, number, "a case", unit, "sup1", AGENT)
