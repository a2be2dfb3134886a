"""`evidence worker`: the worker role alone, N threads claiming jobs (of some kinds) until a signal."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

from cli.console import err
from cli.serving import _stop_on_signals
from cli.wiring import settings
from evidence import retries
from evidence.errors import Unavailable
from storage_config.urls import mask_url

log = logging.getLogger(__name__)


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Worker threads (jobs run at once)")] = 1,
    kinds: Annotated[
        str | None, typer.Option(metavar="KIND,...", help="Only these kinds of job, e.g. probe,proxy (default: all)")
    ] = None,
    grace: Annotated[
        float,
        typer.Option(min=0, help="On Ctrl-C or SIGTERM, seconds to let running jobs finish before releasing them"),
    ] = 30.0,
) -> None:
    """Run jobs (probe, proxy, clip, export, fixity, sweep) on this machine until Ctrl-C or SIGTERM, beside others."""
    from evidence.jobs import parse_kinds
    from ingest.registry import handlers_by_kind
    from ingest.runtime import Runtime, open_runtime
    from ingest.worker import Pool

    wanted = parse_kinds(kinds) if kinds else None
    handlers_by_kind()  # a kind without its handler: refuse to start (exit 70)
    s = settings()
    _stop_on_signals()
    stop = threading.Event()
    rt: Runtime | None = None
    try:
        failures = 0
        while rt is None:  # a worker started before its database waits for it
            try:
                rt = open_runtime(s, "worker")
            except Unavailable as exc:
                failures += 1
                delay = retries.DATABASE_AT_START.delay(failures)
                log.warning("database not reachable, retrying in %.0fs: %s", delay, exc)
                stop.wait(delay)
        pool = Pool(rt, stop, concurrency, wanted).start()
        names = ", ".join(k.value for k in wanted) if wanted else "all kinds"
        err.print(f"worker: {concurrency} thread(s) for {names}; lease {s.job_lease_seconds:g}s", soft_wrap=True)
        err.print(f"storage {mask_url(s.storage_url)}; database {mask_url(s.database_url)}", soft_wrap=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        err.print("stopping…")
        stop.set()
        released = pool.join(grace)
        if released:
            err.print(f"released job(s) {', '.join(map(str, released))} for another worker")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if rt is not None:
            rt.close()
