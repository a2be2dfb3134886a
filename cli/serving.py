"""`evidence up` and `evidence serve`: the daemon and the API, run until a signal."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from typing import Annotated

import typer

from cli.console import err
from cli.samples import DEMO_ROLE, DEMO_UNIT, DEMO_USER
from cli.station import running_daemon
from cli.station import stop_on_signals as _stop_on_signals
from cli.wiring import settings
from evidence import unit_of_work, users
from evidence.errors import ConfigError, NotFound
from storage_config.settings import Settings

MIGRATE_IN_WORKERS = "_EVIDENCE_MIGRATE_IN_WORKERS"  # read by api.app.worker_app
ACCESS_LOG_OPTION = typer.Option(
    "--access-log/--no-access-log", help="Log each HTTP request (default: EVIDENCE_ACCESS_LOG, on)", show_default=False
)


def up(
    api: Annotated[bool, typer.Option(help="Serve the API beside the daemon")] = True,
    access_log: Annotated[bool | None, ACCESS_LOG_OPTION] = None,
) -> None:
    """Run the ingest daemon, its worker and the API until Ctrl-C: a station, a worker and the API in one process."""
    s = _with_access_log(settings(), access_log)
    _stop_on_signals()
    with running_daemon(s, jobs=True) as (daemon, thread):
        health = lambda: {**daemon.health.as_dict(), "running": thread.is_alive()}  # noqa: E731
        if api:
            _serve(s, health, until=thread)
        else:
            while thread.is_alive():
                thread.join(0.5)


def serve(
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes (default: one per CPU, at most 8; the work per request is CPU-bound)",
        ),
    ] = None,
    access_log: Annotated[bool | None, ACCESS_LOG_OPTION] = None,
) -> None:
    """Run the API alone (no ingest daemon)."""
    s = _with_access_log(settings(), access_log)
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers > 1:
        import uvicorn

        from api.metrics import MULTIPROCESS_ENV
        from evidence.adapters.database import make_engine, migrate
        from evidence.errors import Unavailable

        engine = make_engine(s.database_url)
        try:
            migrate(engine)  # once, here, so the workers never race to migrate
        except Unavailable as exc:  # stay up: each worker migrates once the database answers (retried)
            err.print(f"[yellow]database not reachable yet[/yellow]: {exc}", soft_wrap=True)
            os.environ[MIGRATE_IN_WORKERS] = "1"
        finally:
            engine.dispose()
        os.environ["EVIDENCE_ACCESS_LOG"] = "true" if s.access_log else "false"  # the workers read the environment
        # each worker process counts requests into files here; a scrape of any of them adds up all (api/metrics.py)
        shared_metrics = tempfile.mkdtemp(prefix="evidence-metrics-")
        os.environ[MULTIPROCESS_ENV] = shared_metrics
        err.print(f"API on [bold]http://{s.host}:{s.port}[/bold] with {workers} worker processes", soft_wrap=True)
        err.print(f"API docs on [bold]http://{s.host}:{s.port}/docs[/bold]", soft_wrap=True)
        err.print(f"Web pages on [bold]http://{s.host}:{s.port}/[/bold] (sign in there)", soft_wrap=True)
        try:
            uvicorn.run(
                "api.app:worker_app",
                factory=True,
                host=s.host,
                port=s.port,
                workers=workers,
                log_level="warning",
                access_log=False,
            )
        finally:
            shutil.rmtree(shared_metrics, ignore_errors=True)
        return
    _stop_on_signals()
    try:
        _serve(s, None)
    except KeyboardInterrupt:
        pass


def _with_access_log(s: Settings, access_log: bool | None) -> Settings:
    return s if access_log is None else s.model_copy(update={"access_log": access_log})


def _serve(s: Settings, health, until: threading.Thread | None = None) -> None:
    """Serve the API in this thread until a signal, or until ``until`` (the daemon) has ended."""
    import uvicorn

    from api.app import create_app  # composition root: the only place both sides meet

    config = uvicorn.Config(
        create_app(s, health, migrate_db=health is None),
        host=s.host,
        port=s.port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    threading.Thread(target=_announce, args=(server, s, until), name="evidence-announce", daemon=True).start()
    server.run()
    if not server.started and (until is None or until.is_alive()):  # not when stopped because the daemon ended
        raise ConfigError(f"EVIDENCE_PORT: could not serve on {s.host}:{s.port} (in use?)")


def _announce(server, s: Settings, until: threading.Thread | None) -> None:
    """Once the API listens, say where (one line each); stop the server if the daemon ends first."""
    while not server.started and not server.should_exit:
        if until is not None and not until.is_alive():
            break
        time.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else s.port
        base = f"http://{s.host}:{port}"
        err.print(f"API on [bold]{base}[/bold] (health: {base}/healthz)", soft_wrap=True)
        err.print(f"API docs on [bold]{base}/docs[/bold]", soft_wrap=True)
        err.print(f"Web pages on [bold]{base}/[/bold] (sign in there)", soft_wrap=True)
        err.print(_demo_user_line(s), soft_wrap=True, markup=False)
    if until is not None:
        until.join()
        server.should_exit = True


def _demo_user_line(s: Settings) -> str:
    """Who to sign in as for a first look; its password was shown once, by `evidence samples`."""

    from evidence.adapters.database import make_engine, make_sessionmaker

    def look(session):
        user = users.get_user(session, DEMO_USER)
        return user.roles, user.unit, user.disabled

    engine = make_engine(s.database_url)
    try:
        roles, unit, disabled = unit_of_work.run(make_sessionmaker(engine, read_only=True), look)
    except NotFound:
        return f"demo user: none yet (`evidence samples` makes {DEMO_USER}, {DEMO_ROLE} of {DEMO_UNIT})"
    except Exception as exc:  # noqa: BLE001 - a greeting must not stop the service
        return f"demo user: unknown ({exc.__class__.__name__})"
    finally:
        engine.dispose()
    state = " (disabled)" if disabled else ""
    return (
        f"demo user: {DEMO_USER}{state}, {roles.replace(',', ', ')} of unit {unit}; its password was printed "
        f"once by `evidence samples`, `evidence users passwd {DEMO_USER}` gives a new one"
    )
