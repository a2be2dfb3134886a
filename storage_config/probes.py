"""Liveness and readiness, the same for every role (API, all-in-one, station, worker).

``/healthz`` says the process is alive: 200 while it runs its loops (the daemon's report, if any, is
in the body whatever it says), 503 only when the daemon beside it has ended or given up, or its
report cannot be built. ``/readyz`` says it can work now: the database answers ``SELECT 1`` and the
object store answers, each within ``READY_TIMEOUT_S``; else 503 naming which one failed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine

from evidence.adapters.database import make_engine
from evidence.adapters.filestore import STAGING, FileStore
from evidence.adapters.s3store import S3Store
from evidence.names import printable
from evidence.objectstore import ObjectStore
from storage_config.provision import open_store
from storage_config.settings import Settings

READY_TIMEOUT_S = 2.0
HealthProvider = Callable[[], dict[str, Any]]
T = TypeVar("T")

# A few threads that run checks with a deadline: one hung on a dead network mount or a black-holed
# address is abandoned (it ends at its own connect timeout), and the probe answers in time regardless.
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="evidence-probe")


def within(seconds: float, fn: Callable[[], T]) -> T:
    """``fn()`` in a probe thread; TimeoutError when it has not answered within ``seconds``."""
    future = _checks.submit(fn)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        future.cancel()
        raise TimeoutError(f"no answer within {seconds:g}s") from None


def _why(exc: BaseException) -> str:
    text_ = str(exc).splitlines()[0] if str(exc) else ""
    return printable(f"{type(exc).__name__}: {text_}"[:300], backslash=False)


def ping_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def ping_store(store: ObjectStore) -> None:
    """The store answers: the folder store's folder is there and usable; the bucket exists."""
    if isinstance(store, FileStore):
        staging = store.root / STAGING
        if not store.root.is_dir() or not staging.is_dir():
            raise FileNotFoundError(f"store folder {store.root} is missing (or not provisioned yet)")
        if not os.access(staging, os.W_OK | os.X_OK):
            raise PermissionError(f"store folder {staging} is not writable")
        os.listdir(store.root)
    elif isinstance(store, S3Store):
        if not store.client.bucket_exists(bucket_name=store.bucket):
            raise FileNotFoundError(f"bucket {store.bucket} does not exist (or is not provisioned yet)")
    else:  # another adapter: the cheapest call every store has
        store.size("readyz/none")


@dataclass
class Readiness:
    """Checks the database and the store; each check waits at most ``timeout`` seconds."""

    engine: Engine
    store: ObjectStore
    timeout: float = READY_TIMEOUT_S
    last: dict[str, Any] = field(default_factory=dict)

    def check(self) -> tuple[bool, dict[str, Any]]:
        report: dict[str, Any] = {}
        for name, probe in (
            ("database", lambda: ping_database(self.engine)),
            ("store", lambda: ping_store(self.store)),
        ):
            began = time.perf_counter()
            try:
                within(self.timeout, probe)
                report[name] = {"ok": True}
            except Exception as exc:  # noqa: BLE001 - readiness reports every failure, never raises
                report[name] = {"ok": False, "error": _why(exc)}
            report[name]["seconds"] = round(time.perf_counter() - began, 3)
        ready = all(part["ok"] for part in report.values())
        failed = [name for name, part in report.items() if not part["ok"]]
        body = {"status": "ready" if ready else "unready", **({"failed": failed} if failed else {}), **report}
        self.last = body
        return ready, body


def readiness_for(settings: Settings) -> Readiness:
    """Readiness checks of their own (an engine that connects only when asked), for a role's metrics port."""
    return Readiness(make_engine(settings.database_url), open_store(settings))


def readiness_body(readiness: Readiness) -> tuple[int, str]:
    ready, body = readiness.check()
    return (200 if ready else 503), json.dumps(body, ensure_ascii=True, default=str)


def health_body(health: HealthProvider | None, extra: dict[str, HealthProvider] | None = None) -> tuple[int, str]:
    """The liveness answer: (status code, JSON body); never raises, whatever the reports hold.

    ``status`` is ``ok``, ``degraded`` (alive, but the daemon reports a part restarting or the database
    unreachable: still 200, since restarting the process would mend nothing; see /readyz) or ``down``
    (the daemon has ended or given up, or its report failed: 503).
    """
    report: dict[str, Any] = {"status": "ok"}
    if health is not None:
        try:
            daemon = health()
            report["ingest"] = daemon
            if daemon.get("running") is False or daemon.get("failure"):
                report["status"] = "down"
            elif daemon.get("degraded") or not daemon.get("database_ok"):
                report["status"] = "degraded"
        except Exception as exc:  # noqa: BLE001 - a failing report is itself news, not a crash
            report = {"status": "down", "error": f"the daemon's health report failed: {exc!r}"}
    for name, provider in (extra or {}).items():
        try:
            report[name] = provider()
        except Exception as exc:  # noqa: BLE001
            report[name] = {"error": _why(exc)}
    try:
        # ASCII escapes: a file name that is not UTF-8 must not make the report unencodable
        body = json.dumps(report, ensure_ascii=True, default=str)
    except Exception as exc:  # noqa: BLE001
        report["status"] = "down"
        body = json.dumps({"status": "down", "error": f"the daemon's health report is not JSON: {exc!r}"})
    return (503 if report["status"] == "down" else 200), body
