"""`evidence station`: the ingest daemon of this machine's upload points, without the job worker or the API.

A station settles, hashes, stores, verifies, records and releases the files docked here, and signs
the custody log as it grows; the probe, proxy and poster jobs it enqueues are left to `evidence
worker` processes anywhere that reach the database and the store. `evidence up` runs the same
daemon with the worker (and the API) in one process: both go through ``running_daemon``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.console import err
from cli.wiring import settings
from evidence.errors import ConfigError, DaemonFailed
from storage_config.settings import Settings
from storage_config.urls import mask_url

if TYPE_CHECKING:
    from ingest.daemon import Daemon


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt in the main thread: the long-running commands stop cleanly."""
    # Explicitly, SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then
    # installs no Ctrl-C handler of its own, so the process would never stop on SIGINT.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops as cleanly as Ctrl-C


def metrics_port(s: Settings, health: Callable[[], dict[str, Any]]) -> Any:
    """/metrics, /healthz and /readyz on EVIDENCE_METRICS_PORT, when set (a role without the API)."""
    if s.metrics_port is None:
        return None
    from ingest import metrics
    from storage_config.probes import readiness_for

    try:
        server = metrics.serve(s.metrics_host, s.metrics_port, health, readiness_for(s))
    except OSError as exc:
        raise ConfigError(
            f"EVIDENCE_METRICS_PORT: could not serve on {s.metrics_host}:{s.metrics_port}: {exc}"
        ) from exc
    where = f"http://{s.metrics_host}:{server.server_address[1]}"
    err.print(f"metrics on [bold]{where}/metrics[/bold] (health: {where}/healthz, {where}/readyz)", soft_wrap=True)
    return server


@contextlib.contextmanager
def running_daemon(s: Settings, *, jobs: bool, maintenance: bool = True) -> Iterator[tuple[Daemon, threading.Thread]]:
    """The daemon in a thread of its own for the block; stopped (and waited for) when the block ends.

    Ctrl-C or SIGTERM inside the block (see ``stop_on_signals``) ends it cleanly;
    ``DaemonFailed`` afterwards if a part of the daemon gave up.
    """
    from ingest.daemon import Daemon  # not at import: `evidence --help` needs no watchdog

    stop = threading.Event()
    daemon = Daemon(s, stop, jobs=jobs, maintenance=maintenance)
    thread = threading.Thread(target=daemon.run, name="evidence-daemon", daemon=True)
    thread.start()
    port = metrics_port(s, lambda: {**daemon.health.as_dict(), "running": thread.is_alive()})
    for point in s.points:
        err.print(f"watching upload point [bold]{point.path}[/bold] (station {point.station_id})", soft_wrap=True)
    err.print(f"storage {mask_url(s.storage_url)}; database {mask_url(s.database_url)}", soft_wrap=True)
    try:
        yield daemon, thread
    except KeyboardInterrupt:
        pass
    finally:
        err.print("stopping…")
        stop.set()
        thread.join(timeout=60)
        if port is not None:
            port.shutdown()
    if daemon.health.failure:
        raise DaemonFailed(f"the ingest daemon gave up: {daemon.health.failure}")


def station(
    maintenance: Annotated[
        bool,
        typer.Option(
            help="Also run the retention sweep and the rolling fixity pass (one station of a site is enough)",
        ),
    ] = True,
) -> None:
    """Ingest this machine's upload points until Ctrl-C; jobs are left to `evidence worker`."""
    s = settings()
    stop_on_signals()
    with running_daemon(s, jobs=False, maintenance=maintenance) as (_daemon, thread):
        err.print("station running; probe, proxy and poster jobs are left to `evidence worker`", soft_wrap=True)
        while thread.is_alive():
            thread.join(0.5)
