"""The ingest daemon: watch the upload points, settle files, ingest them, run jobs.

watchdog events (inotify, or polling for network shares) only hint; a full
rescan at start and every ``rescan_seconds`` finds whatever the events missed
(files dropped while the daemon was down, event-queue overflows).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from evidence import jobs
from evidence.db import transaction, with_db_retry
from evidence.errors import EvidenceError, InvalidInput, SourceChanged, StoreUnavailable, Unavailable
from evidence.filestore import FileStore
from ingest import worker
from ingest.pipeline import finish_releases, ingest_file
from ingest.runtime import Runtime, open_runtime
from ingest.scan import is_ignored, scan
from ingest.settle import Settler
from storage_config.settings import Settings, UploadPoint

log = logging.getLogger(__name__)
TICK_S = 0.5
STAGING_MAX_AGE_S = 6 * 3600


@dataclass
class Health:
    """What /healthz reports about the daemon."""

    started_at: float = field(default_factory=time.time)
    database_ok: bool = False
    store_ok: bool = False
    last_scan_at: float | None = None
    pending_files: int = 0
    ingested: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Events(FileSystemEventHandler):
    def __init__(self, sink: queue.SimpleQueue):
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p:
                self.sink.put(Path(p.decode() if isinstance(p, bytes) else p))


class Daemon:
    """Owns the settler, the observer and the worker thread."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop or threading.Event()
        self.health = Health()
        self.events: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self.settler = Settler(settings.settle_seconds)
        self.retry_at: dict[Path, float] = {}
        self.failures: dict[Path, int] = {}
        self.rt: Runtime | None = None
        self.points = settings.points

    # -- start-up ---------------------------------------------------------
    def _connect(self) -> Runtime:
        delay = 1.0
        while not self.stop.is_set():
            try:
                rt = open_runtime(self.settings, "ingest")
                self.health.database_ok = True
                return rt
            except Unavailable as exc:
                self.health.last_error = str(exc)
                log.warning("database not reachable, retrying in %.0fs: %s", delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, 30)
        raise SystemExit(0)

    def _recover(self, rt: Runtime) -> None:
        """Finish what a crash left: dead workers' jobs, unreleased sources, staging files."""

        def free() -> int:
            with transaction(rt.sessions) as session:
                return jobs.release_dead_owners(session, rt.host)

        freed = with_db_retry(free)
        if freed:
            log.info("requeued %d job(s) held by a process that died", freed)
        for point in self.points:
            finish_releases(rt, point)
        try:
            rt.ready_store()  # provision the bucket now; if the store is down, ingest retries it later
            self.health.store_ok = True
        except Unavailable as exc:
            self.health.last_error = str(exc)
            log.warning("object store not ready yet (will retry): %s", exc)
        if isinstance(rt.store, FileStore) and rt.store.staging_dir().exists():
            rt.store.sweep_staging(STAGING_MAX_AGE_S)
        if self.health.store_ok:
            self._sweep_incoming(rt)

    def _sweep_incoming(self, rt: Runtime) -> None:
        """Drop half-ingested uploads a crash left under ``incoming/`` (old enough to be nobody's)."""
        cutoff = time.time() - STAGING_MAX_AGE_S
        stale = [key for key, modified in rt.store.list_keys("incoming/") if modified < cutoff]
        for key in stale:
            rt.store.delete(key)
        if stale:
            log.info("removed %d stale incoming object(s)", len(stale))

    def _observer(self):
        observer = PollingObserver(timeout=2) if self.settings.polling else Observer()
        handler = _Events(self.events)
        for point in self.points:
            observer.schedule(handler, str(point.path), recursive=True)
        observer.daemon = True
        observer.start()
        return observer

    # -- the loops --------------------------------------------------------
    def _point_of(self, path: Path) -> UploadPoint | None:
        for point in self.points:
            try:
                rel = path.relative_to(point.path).as_posix()
            except ValueError:
                continue
            return None if is_ignored(rel, self.settings.archive_dirname) else point
        return None

    def _rescan(self) -> None:
        for point in self.points:
            for path in scan(point.path, self.settings.archive_dirname):
                self.settler.observe(path)
        self.health.last_scan_at = time.time()

    def _drain_events(self) -> None:
        while True:
            try:
                path = self.events.get_nowait()
            except queue.Empty:
                return
            if self._point_of(path) is not None:
                self.settler.observe(path)

    def _ingest_ready(self, rt: Runtime) -> None:
        now = time.monotonic()
        for path in self.settler.ready():
            if self.stop.is_set():
                return
            if self.retry_at.get(path, 0) > now:
                continue
            point = self._point_of(path)
            if point is None:
                self.settler.forget(path)
                continue
            try:
                result = ingest_file(rt, point, path)
            except SourceChanged as exc:
                log.info("%s", exc)
                self.settler.forget(path)
                self.settler.observe(path)
                continue
            except InvalidInput:
                self.settler.forget(path)
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the daemon
                # Nothing is released on failure: the file stays and is tried again later.
                if not isinstance(exc, (EvidenceError, OSError)):
                    log.exception("unexpected error ingesting %s", path)
                tries = self.failures.get(path, 0) + 1
                self.failures[path] = tries
                self.retry_at[path] = now + min(300.0, 2.0**tries)
                self.health.last_error = f"{path}: {exc}"
                if isinstance(exc, StoreUnavailable):
                    self.health.store_ok = False
                log.warning("could not ingest %s (attempt %d, retrying): %s", path, tries, exc)
                continue
            self.health.store_ok = True
            self.health.ingested += result.outcome in {"new", "duplicate", "rejected"}
            self.settler.forget(path)
            self.retry_at.pop(path, None)
            self.failures.pop(path, None)
            log.info("%s: %s %s", result.outcome, path, result.sha256 or result.reason or "")
        self.health.pending_files = len(self.settler)

    def _work(self, rt: Runtime) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                ran = worker.drain(rt, stop=self.stop.is_set)
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any single failure
                if not isinstance(exc, Unavailable):
                    log.exception("worker error")
                log.warning("worker paused, retrying in %.0fs: %s", delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, 60)
                continue
            if not ran:
                self.stop.wait(1.0)

    def run(self) -> None:
        """Run until ``stop`` is set (Ctrl-C, SIGTERM)."""
        for point in self.points:
            point.path.mkdir(parents=True, exist_ok=True)
        rt = self.rt = self._connect()
        try:
            self._run(rt)
        finally:
            rt.close()

    def _run(self, rt: Runtime) -> None:
        while not self.stop.is_set():
            try:
                self._recover(rt)
                break
            except Unavailable as exc:
                log.warning("recovery waits for storage/database: %s", exc)
                self.stop.wait(2.0)
        observer = self._observer()
        work = threading.Thread(target=self._work, args=(rt,), name="evidence-worker", daemon=True)
        work.start()
        next_scan = 0.0
        try:
            while not self.stop.is_set():
                if time.monotonic() >= next_scan:
                    self._rescan()
                    next_scan = time.monotonic() + self.settings.rescan_seconds
                self._drain_events()
                self._ingest_ready(rt)
                self.stop.wait(TICK_S)
        finally:
            observer.stop()
            observer.join(timeout=5)
            work.join(timeout=30)
