"""The database adapter: engines with timeouts, sessions, and Alembic migrations."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from evidence.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent.parent / "migrations"
READ_ONLY = "evidence_read_only"
MIGRATION_LOCK_ID = 0x45564D47  # "EVMG"


def make_engine(url: str) -> Engine:
    """An engine with connect and statement timeouts for the backend at ``url``."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            # WAL lets the API read while ingest writes; the driver's own
            # transaction handling is turned off so BEGIN IMMEDIATE below works.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers take the write lock at the start, so two never both read the
            # custody chain's tail and then collide; readers (WAL) need no lock at all.
            if conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN")
            else:
                _begin_immediate(conn.connection.driver_connection)

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=60000"},
    )


def _begin_immediate(raw: Any, timeout_s: float = 30.0) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10... up to 100 ms between tries, while a writer holds
    the lock for well under a millisecond: several processes appending custody events then spend most
    of their time asleep with the lock free. Here the waits stay below 2 ms.
    """
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline, pause = time.monotonic() + timeout_s, 0.0001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(pause * (0.5 + random.random()))  # jitter: waiting writers do not wake in step
            pause = min(pause * 2, 0.002)
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")


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
            if conn.dialect.name == "postgresql":
                # roles starting together on many machines: one migrates, the others wait for it and
                # then find nothing to do (PostgreSQL runs the DDL in this transaction, under the lock).
                # SQLite: BEGIN IMMEDIATE serialises them already.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise DatabaseUnavailable(f"cannot migrate database: {exc.orig}") from exc
