"""One unit of work: a whole transaction, run again from the start when the database says it may be.

Every transaction the services run goes through ``run`` (ORM sessions) or ``run_connection`` (Core,
for the sign-in lookup on every request). A transaction that fails on a lost connection, a lock held
too long (SQLite), a serialisation failure or a deadlock (PostgreSQL) is rolled back and run again
with the ``retries.DATABASE`` policy; when the tries are spent it becomes ``DatabaseUnavailable``.
So ``work`` must only touch the database: anything else it does (files, the store) would be done twice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from evidence import retries
from evidence.errors import DatabaseUnavailable

T = TypeVar("T")

# SQLSTATEs after which the same transaction may well succeed: serialization_failure, deadlock_detected
_RETRY_STATES = {"40001", "40P01"}


def is_transient(exc: BaseException) -> bool:
    """True when running the whole transaction again may succeed."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return exc.connection_invalidated or state in _RETRY_STATES
    return False


@contextlib.contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction without retries: commit on success, roll back on any error.

    For work that is already inside ``run`` or must not be repeated; everything else uses ``run``.
    """
    with sessions() as session, session.begin():
        yield session


def run(sessions: sessionmaker[Session], work: Callable[[Session], T], policy: retries.Backoff = retries.DATABASE) -> T:
    """``work(session)`` in one transaction, committed when it returns; retried whole while transient."""

    def once() -> T:
        with transaction(sessions) as session:
            return work(session)

    return _retried(once, policy)


def run_connection(engine: Engine, work: Callable[[Connection], T], policy: retries.Backoff = retries.DATABASE) -> T:
    """``work(connection)`` in one Core transaction; retried whole while transient."""

    def once() -> T:
        with engine.begin() as conn:
            return work(conn)

    return _retried(once, policy)


def _retried(once: Callable[[], T], policy: retries.Backoff) -> T:
    try:
        # The common case first, without building a tenacity policy on every call (the API's hot path).
        return once()
    except DBAPIError as exc:
        if not is_transient(exc):
            raise
        failure = exc
    rest = policy.after(1)
    if rest.attempts == 0:
        raise DatabaseUnavailable(f"database unavailable: {failure.orig}") from failure
    time.sleep(policy.delay(1))
    try:
        return rest.retrying(is_transient)(once)
    except DBAPIError as exc:
        if is_transient(exc):
            raise DatabaseUnavailable(f"database unavailable: {exc.orig}") from exc
        raise
