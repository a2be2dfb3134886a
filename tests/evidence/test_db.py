"""The retry policy for database work."""

from __future__ import annotations

import itertools
import time

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from evidence import db
from evidence.errors import DatabaseUnavailable


def flaky(failures: int, exc: Exception):
    calls = []

    def fn() -> str:
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise exc
        return "done"

    return fn, calls


LOCKED = OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


def test_a_transient_error_is_retried_with_growing_waits(monkeypatch):
    monkeypatch.setattr(db, "FIRST_RETRY_WAIT_S", 0.05)
    fn, calls = flaky(2, LOCKED)
    assert db.with_db_retry(fn) == "done"
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) == 3 and gaps[0] >= 0.05 and gaps[1] >= 0.1


def test_it_gives_up_as_database_unavailable(monkeypatch):
    monkeypatch.setattr(db, "FIRST_RETRY_WAIT_S", 0.01)
    fn, calls = flaky(10, LOCKED)
    with pytest.raises(DatabaseUnavailable, match="database is locked"):
        db.with_db_retry(fn, attempts=3)
    assert len(calls) == 3
    fn, calls = flaky(10, LOCKED)
    with pytest.raises(DatabaseUnavailable):
        db.with_db_retry(fn, attempts=1)
    assert len(calls) == 1


def test_other_errors_are_not_retried():
    fn, calls = flaky(1, IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    with pytest.raises(IntegrityError):
        db.with_db_retry(fn)
    assert len(calls) == 1
