"""What a running ingest process holds: settings, database, object store, identity."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from evidence import custody, report_rollup, unit_of_work
from evidence.adapters.database import make_engine, make_sessionmaker, migrate
from evidence.custody_checkpoints import Signer
from evidence.objectstore import ObjectStore
from storage_config import keys
from storage_config.provision import open_store, provision
from storage_config.settings import Settings

VERSION = "0.1.0"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    process: str
    _store_ready: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _signer: Signer | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return socket.gethostname()

    @property
    def owner(self) -> str:
        """Job-lease owner: host and pid, so a restart can tell its dead predecessor's leases."""
        return f"{self.host}:{os.getpid()}"

    def agent(self, station_id: str | None = None) -> str:
        """Who acts, for custody events: station and process identity."""
        station = station_id or self.settings.station_id
        return f"station={station}; process=evidence-{self.process}/{VERSION}@{self.host} pid {os.getpid()}"

    def ready_store(self) -> ObjectStore:
        """The store, provisioned once (bucket created, versioning on) before first use."""
        with self._lock:
            if not self._store_ready:
                provision(self.store)
                self._store_ready = True
        return self.store

    def signer(self) -> Signer:
        """The custody log's signing key (made in the data directory at first use unless configured)."""
        with self._lock:
            if self._signer is None:
                self._signer = keys.signer(self.settings)
            return self._signer

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings, process: str) -> Runtime:
    """Connect to the database (migrating it) and open the object store."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    sessions = make_sessionmaker(engine)
    report_rollup.ensure_built(sessions, settings.zone)  # once: a new or just upgraded database
    rt = Runtime(settings, engine, sessions, open_store(settings), process)
    unit_of_work.run(sessions, lambda s: custody.upgrade_log(s, rt.agent()))  # once: a pre-0010 log
    return rt
