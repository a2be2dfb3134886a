"""The ingest daemon: watch the upload points, settle files, ingest them, run jobs.

watchdog events (inotify, or polling for network shares) only hint; a full
rescan at start and every ``rescan_seconds`` finds whatever the events missed
(files dropped while the daemon was down, event-queue overflows).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserverVFS

from evidence import jobs, retries, skipped, unit_of_work
from evidence.errors import (
    EvidenceError,
    InvalidInput,
    SourceChanged,
    SourceNotReleased,
    SourceUnreadable,
    StoreUnavailable,
    Unavailable,
)
from evidence.names import printable
from evidence.retries import Backoff
from evidence.skipped import Skip, SkipKind
from ingest import checkpointing, fixity_pass, metrics, retention_pass, staging, worker
from ingest.pipeline import IngestResult, finish_releases, ingest_file
from ingest.registry import handlers_by_kind
from ingest.runtime import Runtime, open_runtime
from ingest.scan import is_ignored, walk
from ingest.settle import Settler
from storage_config.settings import Settings, UploadPoint

log = logging.getLogger(__name__)
TICK_S = 0.5
STAGING_MAX_AGE_S = 6 * 3600


def error_text(exc: BaseException) -> str:
    """An error's text for the health report: its type when its message says nothing."""
    return printable(str(exc) or type(exc).__name__, backslash=False)


@dataclass(frozen=True)
class Restarts:
    """How a failed part is restarted: after ``backoff``'s delays, and when the daemon gives up."""

    backoff: Backoff = retries.PART_RESTART
    # consecutive failures (outages of the database or store do not count) before giving up
    give_up_after: int = 8
    # a part that ran this long since its last restart has recovered: its failure count starts afresh
    healthy_after: float = 300.0


@dataclass
class Part:
    """One supervised part of the daemon (start-up, ingest loop, worker, file watcher)."""

    state: str = "starting"  # running, restarting, done, stopped or failed
    failures: int = 0  # in a row; reset once the part has run ``healthy_after`` seconds
    restarts: int = 0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def recovering(self, healthy_after: float) -> bool:
        return self.failures > 0 and time.monotonic() - self.started < healthy_after


@dataclass
class Health:
    """What /healthz reports about the daemon."""

    started_at: float = field(default_factory=time.time)
    database_ok: bool = False
    store_ok: bool = False
    last_scan_at: float | None = None
    pending_files: int = 0
    ingested: int = 0
    skipped: int = 0  # entries on the skipped list (``evidence status``, GET /api/v1/ingest/skipped)
    object_lock: str | None = None  # the store's lock_status(): on, off (a bucket without it), unsupported
    last_error: str | None = None
    parts: dict[str, Part] = field(default_factory=dict)
    failure: str | None = None  # why the daemon gave up, if it did
    healthy_after: float = 300.0
    fixity: fixity_pass.PassReport = field(default_factory=fixity_pass.PassReport)

    def degraded(self) -> bool:
        """A part is down, restarting, or running again too briefly to count as recovered."""
        return self.failure is not None or any(
            p.state in {"restarting", "failed"} or (p.state == "running" and p.recovering(self.healthy_after))
            for p in list(self.parts.values())
        )

    def as_dict(self) -> dict:
        """Plain JSON-safe values (never raises: /healthz must always answer)."""
        parts = {
            name: {
                "state": p.state,
                "failures": p.failures,
                "restarts": p.restarts,
                "last_error": p.last_error and printable(p.last_error, backslash=False),
            }
            for name, p in list(self.parts.items())
        }
        return {
            "started_at": self.started_at,
            "database_ok": self.database_ok,
            "store_ok": self.store_ok,
            "last_scan_at": self.last_scan_at,
            "pending_files": self.pending_files,
            "ingested": self.ingested,
            "skipped": self.skipped,
            "object_lock": self.object_lock,
            "last_error": self.last_error and printable(str(self.last_error), backslash=False),
            "degraded": self.degraded(),
            "failure": self.failure,
            "parts": parts,
            "fixity": self.fixity.as_dict(),
        }


class PartDied(RuntimeError):
    """A thread the daemon relies on (watchdog's) has ended."""


def _guard_thread(thread: threading.Thread, errors: dict[str, str]) -> None:
    """Record what kills ``thread`` instead of letting it die unreported (watchdog's threads)."""
    run = thread.run

    def guarded() -> None:
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - reported through the health of the watcher part
            errors[thread.name] = f"{type(exc).__name__}: {error_text(exc)}"
            log.error("file watcher thread %s died", thread.name, exc_info=exc)

    thread.run = guarded  # type: ignore[method-assign]


class _Wake:
    """An event that ends the ingest loop's wait whether it waits on its ingests or on nothing
    (a future, so that ``futures.wait`` can wait on it beside them); set and cleared as an Event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: Future[None] = Future()

    def set(self) -> None:
        with self._lock:
            if not self._next.done():
                self._next.set_result(None)

    def clear(self) -> None:
        with self._lock:
            if self._next.done():
                self._next = Future()

    def future(self) -> Future[None]:
        with self._lock:
            return self._next


class _Events(FileSystemEventHandler):
    def __init__(self, sink: queue.SimpleQueue, wake: _Wake):
        self.sink, self.wake = sink, wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p:
                self.sink.put(Path(os.fsdecode(p)))  # a name that is not UTF-8 stays exact
        self.wake.set()  # an ingest loop with room looks at once, not at its next tick


class Daemon:
    """Owns the settler, the observer and the worker thread, and restarts whichever part fails.

    ``jobs=False`` is a station (``evidence station``): it ingests, records and signs, and leaves the
    jobs it enqueues to workers elsewhere. ``maintenance=False`` leaves out the retention sweep and
    the rolling fixity pass (another station runs them).
    """

    def __init__(
        self,
        settings: Settings,
        stop: threading.Event | None = None,
        restarts: Restarts | None = None,
        *,
        jobs: bool = True,
        maintenance: bool = True,
    ):
        self.settings = settings
        self.jobs, self.maintenance = jobs, maintenance
        self.stop = stop or threading.Event()
        self.restarts = restarts or Restarts(give_up_after=settings.restart_limit)
        self.health = Health(healthy_after=self.restarts.healthy_after)
        self.events: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self.wake = _Wake()  # set by file events; an ingest loop with room for more waits on it
        self.settler = Settler(settings.settle_seconds)
        self.retry_at: dict[Path, float] = {}
        self.failures: dict[Path, int] = {}
        # files being ingested by the pool, with what their outcome needs; touched by the ingest loop only
        self.in_flight: dict[Path, tuple[Future[IngestResult], UploadPoint, int | None]] = {}
        self.ready: deque[Path] = deque()  # settled files of the last look, not yet handed out
        self.ready_at = 0.0
        self.rt: Runtime | None = None
        self.points = settings.points
        self.last_sweep: dict | None = None  # the last retention sweep's report

    # -- start-up ---------------------------------------------------------
    def _connect(self) -> Runtime:
        failures = 0
        while not self.stop.is_set():
            try:
                rt = open_runtime(self.settings, "ingest")
                self.health.database_ok = True
                return rt
            except Unavailable as exc:
                failures += 1
                delay = retries.DATABASE_AT_START.delay(failures)
                self.health.last_error = error_text(exc)
                log.warning("database not reachable, retrying in %.0fs: %s", delay, exc)
                self.stop.wait(delay)
        raise SystemExit(0)

    def _recover(self, rt: Runtime) -> None:
        """Finish what a crash left: dead workers' jobs, unreleased sources, staging files."""
        freed = unit_of_work.run(rt.sessions, lambda session: jobs.release_dead_owners(session, rt.host))
        if freed:
            log.info("requeued %d job(s) held by a process that died", freed)
        for point in self.points:
            finish_releases(rt, point)
        try:
            rt.ready_store()  # provision the bucket now; if the store is down, ingest retries it later
            self.health.store_ok = True
            self.health.object_lock = rt.store.lock_status()  # "off": the store has logged why
        except Unavailable as exc:
            self.health.last_error = str(exc)
            log.warning("object store not ready yet (will retry): %s", exc)
        rt.store.discard_partial(STAGING_MAX_AGE_S)
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

    def _observer(self, thread_errors: dict[str, str]):
        # watchdog re-adds a watch when a folder appears during a recursive add (the archive folder
        # does) and warns that it overwrites its own identical callback: harmless, and not for the
        # operator's console (gorakhargosh/watchdog#1278 discusses it)
        warnings.filterwarnings("ignore", "Callback with id .* already exists for watch", RuntimeWarning)
        # lstat: the polling snapshot must not walk through links (a loop has no end); inotify never does
        observer = (
            PollingObserverVFS(stat=os.lstat, listdir=os.scandir, polling_interval=2)
            if self.settings.polling
            else Observer()
        )
        handler = _Events(self.events, self.wake)
        for point in self.points:
            observer.schedule(handler, str(point.path), recursive=True)
        for thread in (observer, *observer.emitters):
            _guard_thread(thread, thread_errors)
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
            return None if is_ignored(rel, self.settings.archive_dirname, self.settings.ignore) else point
        return None

    def _rel(self, path: Path) -> tuple[UploadPoint, str] | None:
        for point in self.points:
            if path.is_relative_to(point.path):
                return point, path.relative_to(point.path).as_posix()
        return None

    def _rescan(self) -> None:
        for path in [p for p in self.failures if not os.path.lexists(p)]:
            where = self._rel(path)
            if where is not None:  # gone from the upload point: nothing is left to try again or list
                self._done(path, where[0])
        for point in self.points:
            found: list[Skip] = []
            for entry in walk(point.path, self.settings.archive_dirname, self.settings.ignore):
                if isinstance(entry, Skip):
                    found.append(entry)
                else:
                    self.settler.observe(entry)
            failing = [rel for p, rel in filter(None, map(self._rel, self.failures)) if p == point]

            def write(session, point=point, found=found, failing=failing) -> list[Skip]:
                return skipped.reconcile(session, point.station_id, str(point.path), found, keep=failing)

            self._list_skipped(write, point)
        self.health.last_scan_at = time.time()

    def _finish_releases(self, rt: Runtime) -> None:
        """Record the releases an outage cut short since the start: a source deleted (policy ``delete``)
        cannot be put back to be tried again, so nothing else would record it before the next start."""
        busy = set(self.in_flight) | set(self.failures)  # their own ingest, or its retry, finishes them
        for point in self.points:
            try:
                finished = finish_releases(rt, point, busy)
            except Unavailable as exc:
                log.warning("could not look for unrecorded releases yet: %s", exc)
                return
            if finished:
                log.info("recorded %d release(s) left unrecorded in %s", finished, printable(point.path))

    def _list_skipped(self, write, point: UploadPoint) -> None:
        """Update the skipped list; log each entry once, when it first appears. A database hiccup only waits."""
        if self.rt is None:
            return
        rt = self.rt

        def work(session: Session) -> tuple[list[Skip] | None, int]:
            return write(session), skipped.count(session)

        try:
            fresh, self.health.skipped = unit_of_work.run(rt.sessions, work)
        except Exception as exc:  # noqa: BLE001 - the list is a report; ingest goes on without it
            log.warning("could not update the skipped list: %s", exc)
            return
        for skip in fresh or ():
            level = logging.INFO if skip.kind == SkipKind.IGNORED else logging.WARNING
            log.log(level, "skipped %s: %s", printable(point.path / skip.rel_path), skip.reason)

    def _drain_events(self) -> None:
        while True:
            try:
                path = self.events.get_nowait()
            except queue.Empty:
                return
            if self._point_of(path) is not None:
                self.settler.observe(path)

    def _failed(self, path: Path, point: UploadPoint, exc: Exception, now: float) -> None:
        """Nothing is released on failure: the file stays, is tried again with backoff, and is listed."""
        if not isinstance(exc, (EvidenceError, OSError)):
            log.exception("unexpected error ingesting %s", printable(path))
        tries = self.failures.get(path, 0) + 1
        self.failures[path] = tries
        delay = retries.SOURCE_FILE.delay(tries)
        self.retry_at[path] = now + delay
        message = printable(str(exc), backslash=False)
        self.health.last_error = f"{printable(path)}: {message}"
        if isinstance(exc, StoreUnavailable):
            self.health.store_ok = False
        log.warning("could not ingest %s (attempt %d, retrying in %.0fs): %s", printable(path), tries, delay, message)
        if isinstance(exc, SourceNotReleased):
            kind = SkipKind.UNRELEASED
        elif isinstance(exc, (SourceUnreadable, OSError)):
            kind = SkipKind.UNREADABLE
        else:
            return
        rel = path.relative_to(point.path).as_posix()
        reason = f"{kind.value}: {message} (attempt {tries}, retried with backoff)"

        def write(session) -> None:  # logged above at every attempt, so not again as a new skip
            skipped.note(session, point.station_id, str(point.path), Skip(rel, kind, reason))

        self._list_skipped(write, point)

    def _done(self, path: Path, point: UploadPoint) -> None:
        self.settler.forget(path)
        self.retry_at.pop(path, None)
        if self.failures.pop(path, None) is not None:
            rel = path.relative_to(point.path).as_posix()
            self._list_skipped(lambda s: skipped.clear(s, str(point.path), rel), point)

    def _ingest_ready(self, rt: Runtime, pool: Executor) -> None:
        """Hand settled files to the ingest threads, keeping each of them one file ahead.

        The settled files are looked for at most every ``TICK_S`` (a look reads /proc and stats every
        waiting file: with a thousand waiting, far longer than storing a small one); in between, each
        ingest that ends takes the next of the last look's files."""
        now = time.monotonic()
        room = 2 * self.settings.ingest_concurrency - len(self.in_flight)
        if room > 0 and (not self.ready or now - self.ready_at >= TICK_S):
            self.ready, self.ready_at = deque(self.settler.ready()), now
        while room > 0 and self.ready and not self.stop.is_set():
            path = self.ready.popleft()
            if path in self.in_flight or self.retry_at.get(path, 0) > now:
                continue
            point = self._point_of(path)
            if point is None:
                self.settler.forget(path)
                continue
            try:
                size: int | None = path.lstat().st_size
            except OSError:
                size = None
            self.in_flight[path] = (pool.submit(ingest_file, rt, point, path), point, size)
            room -= 1
        self.health.pending_files = len(self.settler)

    def _finish_ingests(self, timeout: float) -> None:
        """Wait up to ``timeout`` for an ingest to end, then account for every one that has."""
        waits: list[Future] = [future for future, _, _ in self.in_flight.values()]
        if not waits or (len(waits) < 2 * self.settings.ingest_concurrency and not self.ready):
            # room for more and none in hand: a file event ends the wait too, so that a file arriving
            # while another is being stored is taken at once (with a settle window of 0), not after it
            waits.append(self.wake.future())
        if not self.stop.is_set():
            futures.wait(waits, timeout=timeout, return_when=futures.FIRST_COMPLETED)
        self.wake.clear()
        for path, (future, point, size) in list(self.in_flight.items()):
            if future.done():
                del self.in_flight[path]
                self._outcome(path, point, size, future)

    def _outcome(self, path: Path, point: UploadPoint, size: int | None, future: Future[IngestResult]) -> None:
        try:
            result = future.result()
        except SourceChanged as exc:
            log.info("%s", exc)
            self.settler.forget(path)
            self.settler.observe(path)
            return
        except InvalidInput as exc:  # a link, not a file, or gone: the rescan lists what is left
            log.info("not taken: %s", exc)
            self._done(path, point)
            return
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the daemon
            metrics.file_failed(point.station_id, exc)
            self._failed(path, point, exc, time.monotonic())
            return
        metrics.file_taken(point.station_id, result.outcome, size)
        self.health.store_ok = True
        self.health.ingested += result.outcome in {"new", "duplicate", "rejected"}
        self._done(path, point)
        log.info("%s: %s %s", result.outcome, printable(path), result.sha256 or result.reason or "")

    def waiting(self) -> dict[tuple[str, str], tuple[int, float]]:
        """For /metrics: per upload point, the files waiting and how long the oldest has been unchanged."""
        now = self.settler.clock()
        found = {(p.station_id, str(p.path)): (0, 0.0) for p in self.points}
        for path, since in self.settler.waiting().items():
            point = self._rel(path)
            if point is None:
                continue
            key = (point[0].station_id, str(point[0].path))
            n, oldest = found[key]
            found[key] = (n + 1, max(oldest, now - since))
        return found

    # -- the parts and their supervision ----------------------------------
    def _work(self, rt: Runtime) -> None:
        while not self.stop.is_set():
            if not worker.drain(rt, stop=self.stop.is_set):
                self.stop.wait(1.0)

    def _sweep(self, rt: Runtime) -> None:
        """The retention sweeper, once a day (ingest/retention_pass.py); the first run soon after start."""
        while not self.stop.wait(retention_pass.FIRST_S if self.last_sweep is None else retention_pass.EVERY_S):
            swept = retention_pass.sweep_once(rt)
            self.last_sweep = swept.report
            self.health.object_lock = swept.lock_status or self.health.object_lock

    def _watch(self) -> None:
        """Run watchdog's threads; fail (to be restarted) when one of them has died."""
        errors: dict[str, str] = {}
        observer = self._observer(errors)
        try:
            while not self.stop.wait(TICK_S):
                dead = [t for t in (observer, *observer.emitters) if not t.is_alive()]
                if dead:
                    why = errors.get(dead[0].name, "ended without an error")
                    raise PartDied(f"file watcher thread {dead[0].name} died: {why}")
        finally:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=5)

    def _ingest(self, rt: Runtime) -> None:
        """Scan, settle and ingest until stopped; ``ingest_concurrency`` files are hashed, stored and
        verified at once, while this thread alone keeps the settler, the retries and the health."""
        next_scan = 0.0
        pool = ThreadPoolExecutor(self.settings.ingest_concurrency, thread_name_prefix="evidence-ingest")
        try:
            while not self.stop.is_set():
                if time.monotonic() >= next_scan:
                    self._rescan()
                    self._finish_releases(rt)
                    next_scan = time.monotonic() + self.settings.rescan_seconds
                self._drain_events()
                self._ingest_ready(rt, pool)
                self._finish_ingests(TICK_S)
        finally:
            # files not yet begun stay where they are for the next start; those begun are finished
            pool.shutdown(wait=True, cancel_futures=True)
            for path, (future, point, size) in list(self.in_flight.items()):
                del self.in_flight[path]
                if not future.cancelled():
                    self._outcome(path, point, size, future)

    def _start(self) -> Runtime:
        for point in self.points:
            point.path.mkdir(parents=True, exist_ok=True)
        rt = self.rt = self.rt or self._connect()
        failures = 0
        while not self.stop.is_set():
            try:
                self._recover(rt)
                break
            except Unavailable as exc:
                failures += 1
                self.health.last_error = error_text(exc)
                log.warning("recovery waits for storage/database: %s", exc)
                self.stop.wait(retries.DATABASE_AT_START.delay(failures))
        return rt

    def _supervise(self, name: str, body: Callable[[], object], give_up: bool = True) -> None:
        """Run ``body`` until it returns; whenever it fails, report why and run it again after a backoff.

        After ``restarts.give_up_after`` failures in a row (outages of the database or store do not
        count), the daemon gives up: ``health.failure`` says why and ``stop`` is set. ``give_up=False``
        parts (the file watcher: rescans still find every file) are retried for ever.
        """
        part = self.health.parts[name] = Part()
        policy = self.restarts
        tries = 0  # restarts in a row, outages included: they set the delay
        while not self.stop.is_set():
            part.state, part.started = "running", time.monotonic()
            try:
                body()
                part.state = "stopped" if self.stop.is_set() else "done"  # done: start-up has finished
                return
            except Exception as exc:  # noqa: BLE001 - no failure of a part may end the daemon unreported
                if time.monotonic() - part.started >= policy.healthy_after:
                    part.failures, tries = 0, 0
                outage = isinstance(exc, Unavailable)
                part.failures += not outage
                part.restarts += 1
                tries += 1
                delay = policy.backoff.delay(tries)
                part.state = "restarting"
                part.last_error = self.health.last_error = f"{name}: {error_text(exc)}"
                if give_up and part.failures >= policy.give_up_after:
                    part.state = "failed"
                    self.health.failure = f"{name} failed {part.failures} times in a row: {error_text(exc)}"
                    log.critical("giving up: %s", self.health.failure, exc_info=exc)
                    self.stop.set()
                    return
                if outage:
                    log.warning("%s waits for a dependency, retrying in %.3gs: %s", name, delay, exc)
                else:
                    log.error("%s failed (%d in a row), restarting in %.3gs", name, part.failures, delay, exc_info=exc)
                self.stop.wait(delay)
        if part.state != "failed":
            part.state = "stopped"

    def _spawn(self, name: str, body: Callable[[], object], give_up: bool = True) -> threading.Thread:
        thread = threading.Thread(
            target=self._supervise, args=(name, body, give_up), name=f"evidence-{name}", daemon=True
        )
        thread.start()
        return thread

    def run(self) -> None:
        """Run until ``stop`` is set (Ctrl-C, SIGTERM) or a part has failed beyond recovery."""
        handlers_by_kind()  # a job kind without its handler is a bug: refuse to start rather than restart
        metrics.WAITING.attach(self.waiting)
        try:
            self._supervise("start", self._start)
            rt = self.rt
            if rt is None:
                return
            try:
                if not self.stop.is_set():
                    self._run(rt)
            finally:
                rt.close()
        finally:
            metrics.WAITING.detach(self.waiting)

    def _run(self, rt: Runtime) -> None:
        threads = [
            self._spawn("watcher", self._watch, give_up=False),
            self._spawn("checkpoints", lambda: checkpointing.run(rt, self.stop), give_up=False),
        ]
        if self.jobs:
            threads.append(self._spawn("worker", lambda: self._work(rt)))
            # as in a worker pool: a killed tool's output in staging goes once it is old enough to be nobody's
            threads.append(staging.StagingSweeper(rt.store, staging.max_age_s(rt.settings), self.stop).start().thread)
        if self.maintenance and self.jobs:  # the all-in-one: it does the maintenance itself
            threads += [
                self._spawn("retention", lambda: self._sweep(rt), give_up=False),  # never stops ingest
                self._spawn(  # never stops ingest either
                    "fixity",
                    lambda: fixity_pass.run(rt, self.stop, self.health.fixity, fixity_pass.FIRST_S),
                    give_up=False,
                ),
            ]
        elif self.maintenance:  # a station: it queues the maintenance for the workers
            threads += [
                self._spawn(
                    "retention",
                    lambda: retention_pass.queue_daily(rt, self.stop, retention_pass.FIRST_S),
                    give_up=False,
                ),
                self._spawn(
                    "fixity",
                    lambda: fixity_pass.plan(rt, self.stop, self.health.fixity, fixity_pass.FIRST_S),
                    give_up=False,
                ),
            ]
        try:
            self._supervise("ingest", lambda: self._ingest(rt))
        finally:
            self.stop.set()  # the ingest loop ends only when stopping or giving up: the others follow
            for thread in threads:
                thread.join(timeout=30)
            checkpointing.at_stop(rt)
