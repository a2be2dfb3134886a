"""What the API holds: settings, a database engine, the object store."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from evidence import retries
from evidence.adapters.database import make_engine, make_sessionmaker, migrate, read_only_engine
from evidence.checkpoint import VerifierKey
from evidence.errors import Unavailable
from evidence.objectstore import ObjectStore
from storage_config import keys
from storage_config.provision import open_store
from storage_config.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    reads: sessionmaker[Session]  # read-only transactions: no write lock on SQLite
    read_engine: Engine  # the same, for Core reads on the hot paths
    store: ObjectStore
    verifier: VerifierKey  # the custody log's public key: served with proofs


def open_services(settings: Settings, migrate_db: bool) -> Services:
    """Engine and store for the API; ``migrate_db`` when no daemon beside it migrates."""
    engine = make_engine(settings.database_url)
    if migrate_db:
        try:
            migrate(engine)
        except Unavailable as exc:  # stay up (/healthz 200, /readyz 503); requests are 503 meanwhile
            log.warning("database not reachable at start, migrating once it is: %s", exc)
            later = threading.Thread(target=migrate_when_reachable, args=(engine,), name="evidence-migrate")
            later.daemon = True
            later.start()
    return Services(
        settings,
        engine,
        make_sessionmaker(engine),
        make_sessionmaker(engine, read_only=True),
        read_only_engine(engine),
        open_store(settings),
        keys.signer(settings).verifier,
    )


def migrate_when_reachable(engine: Engine, backoff: retries.Backoff = retries.DATABASE_AT_START) -> None:
    """Migrate as soon as the database answers, retrying with ``backoff`` until it does."""
    failures = 0
    while True:
        try:
            migrate(engine)
        except Unavailable as exc:
            failures += 1
            delay = backoff.delay(failures)
            log.info("database still not reachable, retrying in %.0fs: %s", delay, exc)
            threading.Event().wait(delay)
            continue
        log.info("database reachable: migrated")
        return
