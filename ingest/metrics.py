"""The ingest side's metrics (station and worker), in the process's default registry.

In ``evidence up`` the API serves them at its /metrics beside its own; a role without the API serves
them, with /healthz and /readyz, on ``EVIDENCE_METRICS_HOST``:``EVIDENCE_METRICS_PORT`` (``serve``).
Labels are bounded: stations and upload points come from the configuration, job kinds and outcomes
from the code, error labels are exception class names; never a file name or an id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage_config.probes import HealthProvider, Readiness, health_body, readiness_body

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

FILES = Counter(
    "evidence_ingest_files",
    "Files taken from an upload point, by outcome (new, duplicate, rejected)",
    ["station", "outcome"],
)
BYTES = Counter("evidence_ingest_bytes", "Bytes of the files ingested (new and duplicate)", ["station"])
FAILURES = Counter(
    "evidence_ingest_failures", "Ingest attempts that failed (the file stays and is retried)", ["station", "error"]
)
JOB_SECONDS = Histogram(
    "evidence_job_duration_seconds",
    "Time a job's handler ran, by kind and outcome (done, retry, failed)",
    ["kind", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
)
JOB_FAILURES = Counter(
    "evidence_job_failures", "Job runs that failed, by kind and outcome (retry, failed)", ["kind", "outcome"]
)

# (station, upload point) -> (files waiting, seconds the oldest has waited)
WaitingReport = Callable[[], dict[tuple[str, str], tuple[int, float]]]


class Waiting(Collector):
    """Files waiting in each upload point and the age of the oldest, asked of the running daemons."""

    def __init__(self) -> None:
        self._reports: list[WaitingReport] = []
        self._lock = threading.Lock()

    def attach(self, report: WaitingReport) -> None:
        with self._lock:
            self._reports.append(report)

    def detach(self, report: WaitingReport) -> None:
        with self._lock:
            if report in self._reports:
                self._reports.remove(report)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        files = GaugeMetricFamily(
            "evidence_ingest_waiting_files",
            "Files seen in an upload point, not yet ingested",
            labels=["station", "upload_point"],
        )
        oldest = GaugeMetricFamily(
            "evidence_ingest_oldest_waiting_seconds",
            "How long the oldest waiting file of an upload point has been unchanged (0 when none waits)",
            labels=["station", "upload_point"],
        )
        with self._lock:
            reports = list(self._reports)
        for report in reports:
            try:
                found = report()
            except Exception as exc:  # noqa: BLE001 - a scrape must answer
                log.warning("metrics: the daemon's waiting files could not be counted: %s", exc)
                continue
            for (station, point), (n, age) in sorted(found.items()):
                files.add_metric([station, point], n)
                oldest.add_metric([station, point], age)
        yield files
        yield oldest


WAITING = Waiting()
REGISTRY.register(WAITING)


def file_taken(station: str, outcome: str, size: int | None) -> None:
    FILES.labels(station, outcome).inc()
    if size is not None and outcome in {"new", "duplicate"}:
        BYTES.labels(station).inc(size)


def file_failed(station: str, exc: BaseException) -> None:
    FAILURES.labels(station, type(exc).__name__).inc()


def job_ran(kind: str, outcome: str, seconds: float) -> None:
    JOB_SECONDS.labels(kind, outcome).observe(seconds)
    if outcome != "done":
        JOB_FAILURES.labels(kind, outcome).inc()


def exposition() -> bytes:
    return generate_latest(REGISTRY)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                code, body, kind = 200, exposition(), CONTENT_TYPE
            elif path == "/healthz":
                code, text = health_body(self.server.health)
                body, kind = text.encode(), "application/json"
            elif path == "/readyz":
                code, text = readiness_body(self.server.readiness)
                body, kind = text.encode(), "application/json"
            else:
                code, body, kind = (
                    404,
                    b'{"error": {"code": "not_found", "message": "no such path"}}',
                    "application/json",
                )
        except Exception as exc:  # noqa: BLE001 - the port answers whatever happens
            log.exception("metrics port: %s failed", path)
            code, body, kind = 500, f'{{"error": "{type(exc).__name__}"}}'.encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - scrapes are not worth a line each
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], health: HealthProvider | None, readiness: Readiness):
        self.health = health
        self.readiness = readiness
        super().__init__(address, _Handler)


def serve(host: str, port: int, health: HealthProvider | None, readiness: Readiness) -> ThreadingHTTPServer:
    """/metrics, /healthz and /readyz on ``host:port`` in a thread of their own; ``shutdown()`` stops it."""
    server = _Server((host, port), health, readiness)
    threading.Thread(target=server.serve_forever, name="evidence-metrics", daemon=True).start()
    return server
