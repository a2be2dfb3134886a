"""What the API holds: settings, a database engine, the object store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from evidence.adapters.database import make_engine, make_sessionmaker, migrate, read_only_engine
from evidence.checkpoint import VerifierKey
from evidence.objectstore import ObjectStore
from storage_config import keys
from storage_config.provision import open_store
from storage_config.settings import Settings


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
        migrate(engine)
    return Services(
        settings,
        engine,
        make_sessionmaker(engine),
        make_sessionmaker(engine, read_only=True),
        read_only_engine(engine),
        open_store(settings),
        keys.signer(settings).verifier,
    )
