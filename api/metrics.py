"""/metrics for the API process: request latency by route template, and counts read from the database.

Each app has its own registry (requests and the database's counts); the process's default registry
(the ingest daemon's metrics in ``evidence up``, Python's process and GC metrics) is served beside it.
Under ``evidence serve --workers N`` a scrape reaches one of N processes, so the request histogram
is kept in prometheus-client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set by ``serve``) and
every scrape adds up all N; counts read from the database are the same from any process.
Labels never hold ids: the route is its path template (``/api/v1/items/{item_id}``), unmatched paths
are ``<unmatched>``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence import jobs, operational
from evidence.models import JobState
from evidence.unit_of_work import transaction
from storage_config.probes import within

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_S = 3.0
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def route_of(scope: Scope) -> str:
    """The matched route's path template (a mount's prefix), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware: one observation per HTTP request (method, route template, status)."""

    def __init__(self, app: ASGIApp, histogram: Histogram):
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            self.histogram.labels(method, route_of(scope), str(status)).observe(time.perf_counter() - began)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class DatabaseCollector(Collector):
    """Counts read at scrape time: one read-only transaction, bounded in time; a failure is
    ``evidence_scrape_ok 0`` (and the counts left out), never an error answer."""

    def __init__(self, reads: sessionmaker[Session], timeout: float = SCRAPE_TIMEOUT_S):
        self.reads = reads
        self.timeout = timeout

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not read the database (an app starts while it is down)

    def _read(self) -> operational.Snapshot:
        with transaction(self.reads) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}"))
            return operational.snapshot(session)

    def collect(self) -> Iterable[Metric]:
        began = time.perf_counter()
        try:
            snap: operational.Snapshot | None = within(self.timeout, self._read)
        except Exception as exc:  # noqa: BLE001 - a scrape answers in an outage too
            snap = None
            log.warning("metrics: could not read the database: %s: %s", type(exc).__name__, exc)
        ok = GaugeMetricFamily("evidence_scrape_ok", "1 when the database was read for this scrape, else 0")
        ok.add_metric([], 0.0 if snap is None else 1.0)
        took = GaugeMetricFamily("evidence_scrape_duration_seconds", "Time spent reading the database for this scrape")
        took.add_metric([], time.perf_counter() - began)
        yield ok
        yield took
        if snap is None:
            return
        yield from _families(snap)


def _families(snap: operational.Snapshot) -> Iterator[Metric]:
    by_state = GaugeMetricFamily("evidence_jobs", "Jobs by kind and state", labels=["kind", "state"])
    counts = {(k.value, s.value): 0 for k in jobs.JobKind for s in JobState}
    counts.update(snap.jobs)
    for (kind, state), n in sorted(counts.items()):
        by_state.add_metric([kind, state], n)
    yield by_state
    alarms = GaugeMetricFamily(
        "evidence_fixity_alarm_items", "Items whose stored original or clip failed a fixity check"
    )
    alarms.add_metric([], snap.fixity_alarms)
    yield alarms
    late = GaugeMetricFamily("evidence_late_uploads", "Recordings uploaded after their deadline, not excused")
    late.add_metric([], snap.late_unexcused)
    yield late
    size = GaugeMetricFamily("evidence_custody_log_events", "Events in the custody log (its tree size)")
    size.add_metric([], snap.custody_log_size)
    yield size
    if snap.last_checkpoint_at is not None:  # none yet: the series is absent (alert on absent() too)
        at = snap.last_checkpoint_at
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        age = GaugeMetricFamily(
            "evidence_custody_checkpoint_age_seconds", "Seconds since the newest signed checkpoint of the custody log"
        )
        age.add_metric([], max(0.0, (datetime.now(UTC) - at).total_seconds()))
        yield age


MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def shared_across_processes() -> bool:
    """Is this one of several server processes whose metrics are kept in shared files?"""
    return bool(os.environ.get(MULTIPROCESS_ENV))


class ApiMetrics:
    """One app's registry: the request histogram and the database collector."""

    def __init__(self, reads: sessionmaker[Session]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared = shared_across_processes()
        self.requests = Histogram(
            "evidence_http_request_duration_seconds",
            "API request latency by method, route template and status (its _count is the request count)",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            # shared: written to the multiprocess files, read back for all processes at each scrape
            registry=None if self.shared else self.registry,
        )
        self.registry.register(DatabaseCollector(reads))

    def exposition(self) -> bytes:
        """The process's default registry (daemon, process, GC), then this app's; with several server
        processes, what all of them counted instead of this one's."""
        if not self.shared:
            return generate_latest(REGISTRY) + generate_latest(self.registry)
        everyone = CollectorRegistry()
        multiprocess.MultiProcessCollector(everyone)
        return generate_latest(everyone) + generate_latest(self.registry)
