"""The unit of work: one transaction, run again whole on transient failures, under the DATABASE policy."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from evidence import retries, unit_of_work
from evidence.errors import DatabaseUnavailable
from evidence.models import Case

LOCKED = OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
QUICK = retries.Backoff("test", first_s=0.05, cap_s=1.0, attempts=4)


def flaky(failures: int, exc: Exception):
    calls: list[float] = []

    def work(session) -> str:
        calls.append(time.monotonic())
        session.add(case(f"C-{len(calls)}"))
        session.flush()
        if len(calls) <= failures:
            raise exc
        return "done"

    return work, calls


def case(number: str, title: str = "t") -> Case:
    return Case(number=number, title=title, unit="U1", created_by="tester")


def numbers(sessions) -> list[str]:
    return unit_of_work.run(sessions, lambda s: list(s.scalars(text("select number from cases order by number"))))


def test_a_transient_error_runs_the_whole_transaction_again_with_growing_waits(sessions):
    work, calls = flaky(2, LOCKED)
    assert unit_of_work.run(sessions, work, QUICK) == "done"
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) == 3 and gaps[0] >= 0.05 and gaps[1] >= 0.1
    # the failed tries were rolled back: only the last try's row is there
    assert numbers(sessions) == ["C-3"]


def test_it_gives_up_as_database_unavailable_after_the_policys_tries(sessions):
    work, calls = flaky(10, LOCKED)
    with pytest.raises(DatabaseUnavailable, match="database is locked"):
        unit_of_work.run(sessions, work, QUICK)
    assert len(calls) == 4
    work, calls = flaky(10, LOCKED)
    with pytest.raises(DatabaseUnavailable):
        unit_of_work.run(sessions, work, retries.Backoff("once", 0.01, 0.01, attempts=1))
    assert len(calls) == 1
    assert numbers(sessions) == []


def test_other_errors_are_not_retried_and_roll_back(sessions):
    work, calls = flaky(1, IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    with pytest.raises(IntegrityError):
        unit_of_work.run(sessions, work, QUICK)
    assert len(calls) == 1 and numbers(sessions) == []


def test_the_policy_delays_double_up_to_the_cap():
    assert [retries.JOB.delay(n) for n in (1, 2, 3, 9, 10**9)] == [2.0, 4.0, 8.0, 300.0, 300.0]
    rest = retries.DATABASE.after(1)
    assert rest.attempts == 3 and rest.first_s == retries.DATABASE.delay(2)


def test_a_serialisation_failure_on_postgresql_is_retried(pg_url):
    """Two SERIALIZABLE transactions that read then write the same row: one fails with 40001 and runs again."""
    from evidence.adapters.database import make_engine, make_sessionmaker, migrate

    engine = make_engine(pg_url)
    migrate(engine)
    sessions = make_sessionmaker(engine.execution_options(isolation_level="SERIALIZABLE"))
    unit_of_work.run(sessions, lambda s: s.add(case("COUNTER", "0")))
    both_read = threading.Barrier(2, timeout=10)
    tries: list[str] = []

    def bump(session) -> None:
        tries.append(threading.current_thread().name)
        row = session.scalars(select(Case).where(Case.number == "COUNTER")).one()
        count = int(row.title)
        if len(tries) <= 2:
            both_read.wait()  # both have read before either writes: a write skew PostgreSQL refuses
        row.title = str(count + 1)

    threads = [threading.Thread(target=unit_of_work.run, args=(sessions, bump), name=f"t{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    final = unit_of_work.run(sessions, lambda s: s.scalars(select(Case.title).where(Case.number == "COUNTER")).one())
    assert final == "2" and len(tries) == 3
    engine.dispose()


def test_a_lasting_error_after_a_transient_one_is_raised_as_it_is(sessions):
    calls: list[int] = []

    def work(session) -> None:
        calls.append(1)
        raise LOCKED if len(calls) == 1 else IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    with pytest.raises(IntegrityError):
        unit_of_work.run(sessions, work, QUICK)
    assert len(calls) == 2
    assert not unit_of_work.is_transient(ValueError("not a database error"))
