"""A city's year of recordings, generated in bulk straight into the database, for bench/reports.py.

1,000 officers in 50 units carry 1,200 recorders (200 officers have two); over one year they make
``n`` recordings. Arrival delays follow what auditors see: most within hours, some a day or more
late, a few with doubtful times (mtime only, or a recorder clock running ahead) or no officer.
Rows are written with executemany (SQLite) or COPY (PostgreSQL); the schema is the real one
(Alembic migrations), so the reports run on the indexes production has.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from evidence.models import DeviceAssignment, Item

OFFICERS, UNITS, RECORDERS, STATIONS = 1000, 50, 1200, 20
YEAR_START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
DEADLINE = timedelta(hours=24)
BATCH = 20_000


@dataclass(frozen=True)
class Fleet:
    officer_unit: dict[str, str]
    recorder_officer: dict[str, str]


def officer(i: int) -> str:
    return f"{100000 + i}"


def recorder(j: int) -> str:
    return f"ZFY{j:04d}"


def fleet() -> Fleet:
    units = {officer(i): f"U{i % UNITS:02d}" for i in range(OFFICERS)}
    return Fleet(units, {recorder(j): officer(j % OFFICERS) for j in range(RECORDERS)})


def _delay(rng: random.Random) -> tuple[timedelta, str, bool]:
    """(arrival after the recording's end, time source, whether the officer is known)."""
    roll = rng.random()
    if roll < 0.90:
        return timedelta(seconds=rng.uniform(600, 20 * 3600)), "container", True
    if roll < 0.97:
        return timedelta(seconds=rng.uniform(24 * 3600 + 1, 96 * 3600)), "container", True
    if roll < 0.98:
        return timedelta(seconds=rng.uniform(600, 30 * 3600)), "file_mtime", True
    if roll < 0.99:
        return -timedelta(seconds=rng.uniform(60, 3600)), "container", True  # the recorder's clock ran ahead
    return timedelta(seconds=rng.uniform(600, 20 * 3600)), "filename", False


def rows(n: int, seed: int = 2026) -> Iterator[dict[str, object]]:
    """``n`` item rows over the year, in id order."""
    rng = random.Random(seed)
    f = fleet()
    serials = list(f.recorder_officer)
    for i in range(1, n + 1):
        serial = serials[rng.randrange(RECORDERS)]
        end = YEAR_START + timedelta(seconds=rng.uniform(0, YEAR.total_seconds()))
        duration = rng.uniform(60, 600)
        delay, source, known = _delay(rng)
        received = end + delay
        who = f.recorder_officer[serial] if known else None
        late_by = (received - (end + DEADLINE)).total_seconds()
        yield {
            "id": i,
            "sha256": f"{i:064x}",
            "size_bytes": int(duration * 1_500_000),
            "object_key": f"originals/sha256/{i:064x}",
            "original_filename": f"{serial}_{end:%Y%m%d_%H%M%S}.mp4",
            "source_path": f"{serial}/{serial}_{end:%Y%m%d_%H%M%S}.mp4",
            "source_mtime": end,
            "device_serial": serial,
            "officer_id": who,
            "unit": f.officer_unit[who] if who else None,
            "station_id": f"ST{rng.randrange(STATIONS):02d}",
            "received_at": received,
            "stored_at": received + timedelta(seconds=30),
            "recorded_start": end - timedelta(seconds=duration),
            "recorded_end": end,
            "duration_s": duration,
            "time_source": source,
            "upload_deadline": end + DEADLINE if who else None,
            "on_time": (late_by <= 0) if who else None,
            "late_by_s": (late_by if late_by > 0 else None) if who else None,
            "status": "ready",
        }


def assignments() -> list[dict[str, object]]:
    f = fleet()
    return [
        {"serial": serial, "officer_id": who, "unit": f.officer_unit[who], "since": YEAR_START}
        for serial, who in f.recorder_officer.items()
    ]


def _batches(n: int) -> Iterator[list[dict[str, object]]]:
    batch: list[dict[str, object]] = []
    for row in rows(n):
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load(engine: Engine, n: int) -> None:
    """Fill a freshly migrated database with the fleet and ``n`` recordings."""
    with engine.begin() as conn:
        conn.execute(insert(DeviceAssignment), assignments())
    if engine.dialect.name == "postgresql":
        _copy_postgresql(engine, n)
    else:
        for batch in _batches(n):
            with engine.begin() as conn:
                conn.execute(insert(Item), batch)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def _copy_postgresql(engine: Engine, n: int) -> None:
    columns = list(next(rows(1)))
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY items ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows(n):
                copy.write_row([row[c] for c in columns])
        cur.execute("SELECT setval('items_id_seq', %s)", (n,))
        raw.commit()
    finally:
        raw.close()
