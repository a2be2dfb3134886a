"""Speed of the auditors' reports on a city's year: 1,000,000 recordings, 1,000 officers, 50 units, 1,200 recorders.

Run from the project root::

    .venv/bin/python bench/reports.py [--n 1000000] [--reps 5] [--backends sqlite,postgresql] [--work DIR]

The data (bench/reports_data.py) is generated in bulk straight into a freshly migrated database of
each backend (the SQLite file is kept in ``--work`` and reused when it already holds ``--n`` rows;
PostgreSQL gets a new database, dropped at the end). Then, warm, medians of ``--reps`` runs:

1. the deadline report for one month (2026-06) grouped by officer, with its late and doubtful lists;
2. the deadline report for the whole year grouped by unit (counts only: the year's late list is
   ~70,000 rows, a download rather than a page);
3. the overdue-recorders report.

Each is compared with a baseline measured in the same run: the bare aggregate SQL over the same rows
(``count(*)`` and on-time count per group for the period through the same index; ``max(received_at)``
per recorder), i.e. the least any implementation must read. The plan of every statement the month
report runs is printed, to show which index finds the month's rows. Target: each report <= 200 ms.

This is a benchmark, not a test: it prints a table and exits 1 if a target is missed (0 otherwise).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench import reports_data  # noqa: E402
from evidence import deadline_report, overdue, report_rollup, unit_of_work  # noqa: E402
from evidence.adapters.database import make_engine, make_sessionmaker, migrate  # noqa: E402
from evidence.deadline_report import GroupBy  # noqa: E402

TARGET_MS = 200.0
ZONE = ZoneInfo("Asia/Shanghai")
MONTH = (date(2026, 6, 1), date(2026, 6, 30))
YEAR = (date(2025, 12, 1), date(2026, 11, 30))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PG_ADMIN = os.environ.get("EVIDENCE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


def median_ms(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    fn()  # warm: caches, statement compilation
    times, result = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def sqlite_engine(work: Path, n: int) -> Engine:
    path = work / f"reports-{n}.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM items")).scalar_one()
    if have != n:
        engine.dispose()
        path.unlink()
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        t0 = time.monotonic()
        reports_data.load(engine, n)
        print(f"  sqlite: generated {n:,} recordings in {time.monotonic() - t0:.0f} s ({path})", flush=True)
    return engine


def postgresql_engine(n: int) -> tuple[Engine, Callable[[], None]]:
    import psycopg

    name = "evidence_bench_reports"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    engine = make_engine(f"{base}/{name}")
    migrate(engine)
    t0 = time.monotonic()
    reports_data.load(engine, n)
    print(f"  postgresql: generated {n:,} recordings in {time.monotonic() - t0:.0f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # what autovacuum does soon after a bulk load: the visibility map lets index-only scans skip the heap
        conn.exec_driver_sql("VACUUM ANALYZE items")

    def drop() -> None:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    return engine, drop


def baseline_sql(column: str, engine: Engine, lo: datetime, hi: datetime) -> Callable[[], Any]:
    on_time = "sum(CASE WHEN on_time THEN 1 ELSE 0 END)"
    sql = text(
        f"SELECT {column}, count(*), {on_time} FROM items "
        "WHERE recorded_end >= :lo AND recorded_end < :hi GROUP BY " + column
    )
    params: dict[str, Any] = {"lo": lo, "hi": hi}
    if engine.dialect.name == "sqlite":  # stored as naive UTC text
        params = {k: v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") for k, v in params.items()}
    return lambda: _rows(engine, sql, params)


def _rows(engine: Engine, sql: Any, params: dict[str, Any]) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sql, params))


def plans(engine: Engine, run: Callable[[], Any]) -> list[str]:
    """The plan of each statement ``run`` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    out = []
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in seen:
            if engine.dialect.name == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                lines = [row[-1] for row in cur.fetchall()]
            else:
                cur.execute("EXPLAIN " + statement, parameters)
                lines = [row[0] for row in cur.fetchall()]
            out.append("\n".join("      " + line for line in lines))
    finally:
        raw.close()
    return out


def build_rollup(engine: Engine) -> None:
    """What ``evidence report rebuild`` does (rows loaded in bulk bypass the code that keeps it)."""
    writes = make_sessionmaker(engine)
    if unit_of_work.run(writes, report_rollup.built_zone) == report_rollup.zone_name(ZONE):
        return
    t0 = time.monotonic()
    counted = unit_of_work.run(writes, lambda s: report_rollup.rebuild(s, ZONE))
    print(f"  {engine.dialect.name}: rollup rebuilt from {counted:,} recordings in {time.monotonic() - t0:.0f} s")


def bench(engine: Engine, reps: int, show_plans: bool) -> list[tuple[str, float, float]]:
    build_rollup(engine)
    reads = make_sessionmaker(engine, read_only=True)

    def month() -> dict[str, Any]:
        return unit_of_work.run(
            reads, lambda s: deadline_report.report(s, None, *MONTH, group_by=GroupBy.OFFICER, zone=ZONE)
        )

    def year() -> dict[str, Any]:
        return unit_of_work.run(
            reads, lambda s: deadline_report.report(s, None, *YEAR, group_by=GroupBy.UNIT, zone=ZONE, items=False)
        )

    def late() -> list[dict[str, Any]]:
        return unit_of_work.run(reads, lambda s: overdue.report(s, NOW, 24.0))

    results = []
    for name, ours, base in (
        ("month by officer (+ lists)", month, baseline_sql("officer_id", engine, *_bounds(MONTH))),
        ("year by unit", year, baseline_sql("unit", engine, *_bounds(YEAR))),
        (
            "overdue recorders",
            late,
            lambda: _rows(engine, text("SELECT device_serial, max(received_at) FROM items GROUP BY device_serial"), {}),
        ),
    ):
        base_ms, _ = median_ms(base, reps)
        ours_ms, result = median_ms(ours, reps)
        size = len(result) if isinstance(result, list) else f"{len(result['groups'])} groups"
        extra = (
            f", {len(result.get('late_items') or [])} late, {len(result.get('doubtful_items') or [])} doubtful listed"
            if isinstance(result, dict)
            else ""
        )
        print(f"    {name}: {ours_ms:.1f} ms (baseline {base_ms:.1f} ms); {size}{extra}", flush=True)
        results.append((name, ours_ms, base_ms))
    if show_plans:
        print("    plans of the month report's statements:")
        for plan in plans(engine, month):
            print(plan)
    return results


def _bounds(days: tuple[date, date]) -> tuple[datetime, datetime]:
    return deadline_report.period_bounds(days[0], days[1], ZONE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "evidence-bench-reports")
    parser.add_argument("--plans", action="store_true", help="print the plan of each statement of the month report")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    table: list[tuple[str, str, float, float]] = []
    for backend in args.backends.split(","):
        print(f"{backend}:", flush=True)
        drop: Callable[[], None] | None = None
        if backend == "sqlite":
            engine = sqlite_engine(args.work, args.n)
        else:
            engine, drop = postgresql_engine(args.n)
        try:
            table += [(backend, *row) for row in bench(engine, args.reps, args.plans)]
        finally:
            engine.dispose()
            if drop:
                drop()
    print(f"\n{'backend':<11} {'report':<28} {'ours ms':>8} {'base ms':>8} {'ratio':>6}  target <= {TARGET_MS:.0f} ms")
    missed = 0
    for backend, name, ours_ms, base_ms in table:
        ok = ours_ms <= TARGET_MS
        missed += not ok
        ratio = ours_ms / base_ms if base_ms else float("inf")
        print(f"{backend:<11} {name:<28} {ours_ms:8.1f} {base_ms:8.1f} {ratio:6.2f}  {'met' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
