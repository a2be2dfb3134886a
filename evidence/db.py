"""Engine, sessions, migrations and the retry policy for database work."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from evidence.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "evidence_read_only"
T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """An engine with connect and statement timeouts for the backend at ``url``."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the API read while ingest writes; the driver's own
            # transaction handling is turned off so BEGIN IMMEDIATE below works.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Writers take the write lock at the start, so two never both read the
            # custody chain's tail and then collide; readers (WAL) need no lock at all.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=60000"},
    )


def read_only_engine(engine: Engine) -> Engine:
    """``engine`` for read-only transactions: they never wait for SQLite's write lock."""
    return engine.execution_options(**{READ_ONLY: True})


def make_sessionmaker(engine: Engine, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``read_only`` ones never wait for SQLite's write lock."""
    return sessionmaker(read_only_engine(engine) if read_only else engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise DatabaseUnavailable(f"cannot migrate database: {exc.orig}") from exc


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


FIRST_RETRY_WAIT_S = 0.2


def with_db_retry(fn: Callable[[], T], attempts: int = 4) -> T:
    """Run ``fn`` (a whole transaction), retrying transient database errors with backoff.

    Waits 0.2 s, 0.4 s, 0.8 s... between attempts (at most 5 s).
    """
    try:
        # The common case, without building a retry policy on every call (the API's hot path).
        return fn()
    except OperationalError as exc:
        if attempts <= 1:
            raise DatabaseUnavailable(f"database unavailable: {exc.orig}") from exc
    time.sleep(FIRST_RETRY_WAIT_S)

    @retry(
        retry=retry_if_exception_type(OperationalError),
        stop=stop_after_attempt(attempts - 1),
        wait=wait_exponential(multiplier=2 * FIRST_RETRY_WAIT_S, max=5),
        reraise=True,
    )
    def attempt() -> T:
        return fn()

    try:
        return attempt()
    except OperationalError as exc:
        raise DatabaseUnavailable(f"database unavailable: {exc.orig}") from exc


@contextlib.contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with sessions() as session, session.begin():
        yield session
