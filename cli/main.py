"""The ``evidence`` command. It is the composition root: it wires settings, the
daemon and the API together; ``ingest`` and ``api`` never import each other."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import stat
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from evidence import attribution, custody, devices, items, skipped, users
from evidence.custody import EventKind
from evidence.errors import (
    ConfigError,
    CustodyBroken,
    DaemonFailed,
    EvidenceError,
    InvalidInput,
    NotFound,
    RejectedFile,
)
from evidence.items import time_filter
from evidence.names import printable
from evidence.unit_of_work import transaction, with_db_retry
from storage_config.settings import Settings, UploadPoint, get_settings
from storage_config.urls import mask_url

app = typer.Typer(
    help="Evidence management for enforcement recordings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
custody_app = typer.Typer(
    help="Chain of custody: per-item log, search and whole-chain verification.", no_args_is_help=True
)
devices_app = typer.Typer(help="Which officer carries which recorder, over time.", no_args_is_help=True)
users_app = typer.Typer(help="People who sign in to the API, their unit and roles.", no_args_is_help=True)
app.add_typer(custody_app, name="custody")
app.add_typer(devices_app, name="devices")
app.add_typer(users_app, name="users")
out = Console(emoji=False, highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, emoji=False, highlight=False)
# `evidence samples` makes the demo user: a supervisor of the unit the sample recorders belong to
DEMO_USER, DEMO_ROLE, DEMO_UNIT = "demo", "supervisor", "U-DEMO"
ACCESS_LOG_OPTION = typer.Option(
    "--access-log/--no-access-log", help="Log each HTTP request (default: EVIDENCE_ACCESS_LOG, on)", show_default=False
)


def _settings() -> Settings:
    return get_settings()


def _runtime(process: str):
    from ingest.runtime import open_runtime

    return open_runtime(_settings(), process)


def _emit(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_settings().zone)
    return time_filter(moment, text)


@app.command()
def config() -> None:
    """Print the effective settings, secrets masked."""
    s = _settings()
    shown = s.model_dump(mode="json")
    shown["storage_url"] = mask_url(s.storage_url)
    shown["database_url"] = mask_url(s.database_url)
    shown["upload_points"] = [{"station_id": p.station_id, "path": str(p.path)} for p in s.points]
    for key, value in shown.items():
        out.print(f"[bold]EVIDENCE_{key.upper()}[/bold] = {json.dumps(value, ensure_ascii=False)}", highlight=False)


@app.command()
def samples(
    into: Annotated[Path | None, typer.Option(help="Upload point to fill (default: the first)")] = None,
    assign: Annotated[bool, typer.Option(help="Also assign the sample recorders to officers")] = True,
) -> None:
    """Place a few generated sample clips in an upload point, as a docking station would."""
    from ingest.samples import make_samples

    s = _settings()
    target = into or s.points[0].path
    made = make_samples(target, datetime.now(UTC), s.zone)
    if assign:
        rt = _runtime("cli")
        try:
            with transaction(rt.sessions) as session:
                for serial, officer in (("ZFY0001", "110001"), ("ZFY0002", "110002")):
                    if devices.assignment_at(session, serial, datetime(2000, 1, 1, tzinfo=UTC)) is None:
                        _assign(rt, session, serial, officer, datetime(2000, 1, 1, tzinfo=UTC), DEMO_UNIT)
                try:
                    _, password = users.add_user(session, DEMO_USER, [DEMO_ROLE], DEMO_UNIT)
                    err.print(
                        f"sign in to the API as [bold]{DEMO_USER}[/bold] ({DEMO_ROLE} of {DEMO_UNIT}), "
                        f"one-time password [bold]{password}[/bold] "
                        "(then choose your own: POST /api/v1/me/password)",
                        soft_wrap=True,
                    )
                except InvalidInput:
                    err.print(
                        f"user {DEMO_USER} exists already (`evidence users passwd {DEMO_USER}` gives a new password)",
                        soft_wrap=True,
                    )
        finally:
            rt.close()
    for path in made:
        err.print(f"sample: {path}")


def _assign(rt, session, serial: str, officer: str, since: datetime, unit: str | None = None):
    row = devices.assign(session, serial, officer, since, unit)
    custody.append(
        session,
        EventKind.DEVICE_ASSIGNED,
        agent=rt.agent(),
        details={"serial": serial, "officer_id": officer, "unit": unit, "since": items.iso(since)},
    )
    return row


@app.command()
def up(
    api: Annotated[bool, typer.Option(help="Serve the API beside the daemon")] = True,
    access_log: Annotated[bool | None, ACCESS_LOG_OPTION] = None,
) -> None:
    """Run the ingest daemon, its worker and the API until Ctrl-C."""
    from ingest.daemon import Daemon

    s = _with_access_log(_settings(), access_log)
    _stop_on_signals()
    stop = threading.Event()
    daemon = Daemon(s, stop)
    thread = threading.Thread(target=daemon.run, name="evidence-daemon", daemon=True)
    thread.start()
    for point in s.points:
        err.print(f"watching upload point [bold]{point.path}[/bold] (station {point.station_id})", soft_wrap=True)
    err.print(f"storage {mask_url(s.storage_url)}; database {mask_url(s.database_url)}", soft_wrap=True)
    try:
        if api:
            _serve(s, lambda: {**daemon.health.as_dict(), "running": thread.is_alive()}, until=thread)
        else:
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        err.print("stopping…")
        stop.set()
        thread.join(timeout=60)
    if daemon.health.failure:
        raise DaemonFailed(f"the ingest daemon gave up: {daemon.health.failure}")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    # Explicitly, SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then
    # installs no Ctrl-C handler of its own, so the process would never stop on SIGINT.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops as cleanly as Ctrl-C


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
        err.print(_demo_user_line(s), soft_wrap=True, markup=False)
    if until is not None:
        until.join()
        server.should_exit = True


def _demo_user_line(s: Settings) -> str:
    """Who to sign in as for a first look; its password was shown once, by `evidence samples`."""
    from evidence.adapters.database import make_engine, make_sessionmaker

    engine = make_engine(s.database_url)
    try:
        with transaction(make_sessionmaker(engine, read_only=True)) as session:
            user = users.get_user(session, DEMO_USER)
            roles, unit, disabled = user.roles, user.unit, user.disabled
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


@app.command()
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
    s = _with_access_log(_settings(), access_log)
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers > 1:
        import uvicorn

        from evidence.adapters.database import make_engine, migrate

        engine = make_engine(s.database_url)
        migrate(engine)  # once, here, so the workers never race to migrate
        engine.dispose()
        os.environ["EVIDENCE_ACCESS_LOG"] = "true" if s.access_log else "false"  # the workers read the environment
        err.print(f"API on [bold]http://{s.host}:{s.port}[/bold] with {workers} worker processes", soft_wrap=True)
        err.print(f"API docs on [bold]http://{s.host}:{s.port}/docs[/bold]", soft_wrap=True)
        uvicorn.run(
            "api.app:worker_app",
            factory=True,
            host=s.host,
            port=s.port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    _stop_on_signals()
    try:
        _serve(s, None)
    except KeyboardInterrupt:
        pass


def _point_for(path: Path, station: str | None, device: str | None) -> tuple[UploadPoint, Settings]:
    """The upload point holding ``path`` (links on the way are not resolved: the pipeline refuses them)."""
    s = _settings()
    absolute = Path(os.path.abspath(path))
    for point in s.points:
        for root in (Path(os.path.abspath(point.path)), point.path.resolve()):
            if absolute.is_relative_to(root):
                return UploadPoint(station_id=station or point.station_id, path=root), s
    # A file outside every upload point is never moved or deleted: it belongs to whoever ran us.
    root = absolute.parent.parent if device else absolute.parent
    return UploadPoint(station_id=station or s.station_id, path=root), s.model_copy(update={"source_policy": "keep"})


NO_SUCH_FILE = "no such file"


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be ingested by its kind (missing, a link, a FIFO…), or None for a regular file."""
    from ingest.scan import describe

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return NO_SUCH_FILE
    except OSError as exc:
        return f"cannot be examined: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link: links are never followed and are not evidence"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file: it is {describe(st.st_mode)}"
    return None


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Files to ingest")],
    station: Annotated[str | None, typer.Option(help="Station id to record")] = None,
    process: Annotated[bool, typer.Option(help="Also probe and make proxies before returning")] = True,
) -> None:
    """Ingest files once through the same pipeline as the daemon; one JSON line per file."""
    from ingest import worker
    from ingest.pipeline import ingest_file

    rt = _runtime("cli")
    failed: list[int] = []  # exit codes, in file order: the first is the command's
    done: list[tuple[int | None, dict]] = []
    show_bar = err.is_terminal
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            disable=not show_bar,
        ) as bar:
            for path in files:
                problem = _not_a_file(path)
                if problem:
                    failed.append(NotFound.exit_code if problem == NO_SUCH_FILE else InvalidInput.exit_code)
                    done.append((None, {"path": printable(path), "outcome": "error", "error": problem}))
                    continue
                point, settings = _point_for(path, station, None)
                rt.settings = settings
                task = bar.add_task(escape(printable(path.name)), total=os.lstat(path).st_size)
                try:
                    result = ingest_file(
                        rt, point, Path(os.path.abspath(path)), on_bytes=lambda n, t=task: bar.advance(t, n)
                    )
                    done.append((result.item_id, result.as_dict()))
                    if result.outcome == "rejected":
                        failed.append(RejectedFile.exit_code)
                except EvidenceError as exc:
                    failed.append(exc.exit_code)
                    done.append((None, {"path": printable(path), "outcome": "error", "error": str(exc)}))
        if process:
            ids = [i for i, _ in done if i is not None]
            if ids:
                worker.drain(rt, item_ids=ids)
        with transaction(rt.sessions) as session:
            for item_id, line in done:
                if item_id is not None:
                    line["item"] = items.item_view(items.get_item(session, item_id))
                _emit(line)
    finally:
        rt.close()
    if failed:
        raise typer.Exit(failed[0])


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False) -> None:
    """What ingest leaves alone in the upload points and why: links, litter, FIFOs, unreadable or stuck files."""
    rows = _in_transaction(skipped.listing)
    if as_json:
        for row in rows:
            _emit(row)
        return
    if not rows:
        out.print("nothing skipped: every file in the upload points is ingested or settling")
        return
    table = Table("kind", "station", "path", "reason", "since (UTC)")
    for r in rows:
        table.add_row(r["kind"], escape(r["station_id"]), escape(r["path"]), escape(r["reason"]), r["first_seen"])
    out.print(table)
    out.print(f"{len(rows)} skipped; the daemon refreshes this list at every rescan")


@app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    unattributed: Annotated[
        bool,
        typer.Option(
            "--unattributed", help="Only footage with no recorder known (to attribute with `evidence attribute`)"
        ),
    ] = False,
) -> None:
    """Every item, and every file that was rejected with its reason."""
    rt = _runtime("cli")
    try:
        with transaction(rt.sessions) as session:
            rows = [items.item_view(i) for i in items.list_items(session, True if unattributed else None)]
            rejected = [] if unattributed else [items.receipt_view(r) for r in items.rejected_receipts(session)]
    finally:
        rt.close()
    if as_json:
        for row in rows + rejected:
            _emit(row)
        return
    table = Table(
        "id", "status", "device", "officer", "recorded (UTC)", "received (UTC)", "on time", "file", "sha256 / reason"
    )
    for r in rows:
        on_time = "—" if r["on_time"] is None else ("yes" if r["on_time"] else f"late {r['late_by_s']:.0f}s")
        device = "[yellow]unattributed[/]" if r["unattributed"] else (r["device_serial"] or "—")
        table.add_row(
            str(r["id"]),
            r["status"],
            device,
            r["officer_id"] or "[yellow]none[/]",
            r["recorded_start"] or "—",
            r["received_at"],
            on_time,
            escape(r["original_filename"]),
            (r["error"] or r["sha256"][:16] + "…"),
        )
    for r in rejected:
        table.add_row(
            "—",
            "[red]rejected[/]",
            r["device_serial"] or "—",
            "—",
            "—",
            r["received_at"],
            "—",
            escape(r["source_path"]),
            escape(r["reason"] or ""),
        )
    out.print(table)


@app.command()
def show(item_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One item's metadata."""
    rt = _runtime("cli")
    try:
        with transaction(rt.sessions) as session:
            view = items.item_view(items.get_item(session, item_id))
    finally:
        rt.close()
    if as_json:
        _emit(view)
    else:
        for key, value in view.items():
            out.print(f"[bold]{key}[/bold]: {value}", highlight=False)


@app.command()
def attribute(
    item_id: Annotated[int, typer.Argument(metavar="ITEM", help="The unattributed item")],
    device: Annotated[str, typer.Option(help="Serial of the recorder it came from")],
    reason: Annotated[str, typer.Option(help="Why it is this recorder's footage")] = "attributed at the station",
) -> None:
    """Attribute unattributed footage to recorder DEVICE: its officer and unit at the recording time
    become the item's (a custody event; once only)."""
    rt = _runtime("cli")
    try:

        def write() -> dict:
            with transaction(rt.sessions) as session:
                plan = attribution.prepare(session, item_id, device)
                item = attribution.apply(
                    session,
                    plan,
                    by=_operator(),
                    reason=reason,
                    agent=rt.agent(),
                    deadline_hours=rt.settings.deadline_hours,
                )
                return items.item_view(item)

        view = with_db_retry(write)
    finally:
        rt.close()
    on_time = "not judged" if view["on_time"] is None else ("on time" if view["on_time"] else "late")
    out.print(
        f"item {item_id} → recorder {view['device_serial']}, officer {view['officer_id']}, "
        f"unit {view['unit'] or '—'} ({on_time})"
    )


def _operator() -> str:
    """Who is at the station's console, for custody details (the login name, where there is one)."""
    try:
        return f"station operator {getpass.getuser()}"
    except (KeyError, OSError):
        return "station operator"


@custody_app.command("log")
def custody_log(item_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The custody events of one item, oldest first."""
    rt = _runtime("cli")
    try:
        with transaction(rt.sessions) as session:
            items.get_item(session, item_id)
            events = [custody.as_dict(e) for e in custody.log_for(session, item_id)]
    finally:
        rt.close()
    _print_events(events, as_json)


@custody_app.command("events")
def custody_events(
    kind: Annotated[str | None, typer.Option(help="Event kind, e.g. access_denied")] = None,
    user: Annotated[str | None, typer.Option(help="Username: their acts through the API")] = None,
    item: Annotated[int | None, typer.Option(help="Item id")] = None,
    case: Annotated[int | None, typer.Option(help="Case id")] = None,
    since: Annotated[str | None, typer.Option("--from", help="At or after (ISO 8601; no zone: the station's)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before (ISO 8601)")] = None,
    after: Annotated[int, typer.Option(help="Only events after this sequence number (paging)")] = 0,
    limit: Annotated[int, typer.Option(help=f"At most this many events (up to {custody.MAX_PAGE})")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Search custody events across the whole system, oldest first."""
    bounds = (_parse_time(since) if since else None, _parse_time(until) if until else None)
    rt = _runtime("cli")
    try:
        with transaction(rt.sessions) as session:
            found, last = custody.search(
                session,
                kind=kind,
                user=user,
                item_id=item,
                case_id=case,
                since=bounds[0],
                until=bounds[1],
                after=after,
                limit=limit,
            )
            events = [custody.as_dict(e) for e in found]
    finally:
        rt.close()
    _print_events(events, as_json)
    if last is not None:
        err.print(f"more events follow: --after {last}")


def _print_events(events: list[dict], as_json: bool) -> None:
    for ev in events:
        if as_json:
            _emit(ev)
        else:
            out.print(
                f"{ev['seq']:>6} {ev['occurred_at']} {ev['kind']:<18} {ev['outcome']:<8} "
                f"{ev['tool'] or ''} {json.dumps(ev['details'], ensure_ascii=False)}",
                markup=False,
            )


@custody_app.command("verify")
def custody_verify() -> None:
    """Check the whole hash chain; exit 0 when intact, else name the first bad event."""
    rt = _runtime("cli")
    try:
        report = custody.verify_chain(rt.engine)
    finally:
        rt.close()
    if report.ok:
        out.print(f"custody chain intact: {report.checked} events, head {report.head_hash}")
        return
    raise CustodyBroken(
        f"custody chain BROKEN at event {report.bad_seq}: {report.reason} ({report.checked} events verified before it)"
    )


@devices_app.command("assign")
def devices_assign(
    serial: str,
    officer: Annotated[str, typer.Option(help="Officer number (警号)")],
    since: Annotated[str | None, typer.Option(help="ISO time the officer took the device (default now)")] = None,
    unit: Annotated[str | None, typer.Option(help="The officer's unit (decides who may review the footage)")] = None,
) -> None:
    """Record that OFFICER carries recorder SERIAL from SINCE on."""
    when = _parse_time(since) if since else datetime.now(UTC)
    rt = _runtime("cli")
    try:

        def write():
            with transaction(rt.sessions) as session:
                row = _assign(rt, session, serial, officer, when, unit)
                return row.serial, row.officer_id, row.since

        serial_, officer_, since_ = with_db_retry(write)
    finally:
        rt.close()
    out.print(f"{serial_} → officer {officer_} from {items.iso(since_)}")


@devices_app.command("list")
def devices_list(serial: str | None = None) -> None:
    """The assignment history."""
    rt = _runtime("cli")
    try:
        with transaction(rt.sessions) as session:
            rows = devices.assignments(session, serial)
    finally:
        rt.close()
    table = Table("serial", "officer", "since (UTC)", "until (UTC)")
    for r in rows:
        table.add_row(r.serial, r.officer_id, items.iso(r.since), items.iso(r.until) or "—")
    out.print(table)


def _in_transaction(fn):
    """Run ``fn(session)`` in one transaction (retried while the database is briefly away)."""
    rt = _runtime("cli")
    try:

        def write():
            with transaction(rt.sessions) as session:
                return fn(session)

        return with_db_retry(write)
    finally:
        rt.close()


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[list[str], typer.Option(help="officer, reviewer, supervisor, auditor or admin; repeatable")],
    unit: Annotated[str, typer.Option(help="The user's unit (department)")],
    officer_id: Annotated[str | None, typer.Option(help="警号, required for officers")] = None,
) -> None:
    """Create a user and print a one-time password."""
    password = _in_transaction(lambda session: users.add_user(session, name, role, unit, officer_id)[1])
    out.print(f"user {name} created; one-time password: {password} (they choose their own at first sign-in)")


@users_app.command("passwd")
def users_passwd(name: str) -> None:
    """Give a user a new one-time password (their tokens are revoked)."""
    password = _in_transaction(lambda session: users.reset_password(session, name))
    out.print(f"new one-time password for {name}: {password}")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False) -> None:
    """Every user: unit, roles, officer id, disabled, last sign-in."""
    rows = _in_transaction(lambda session: [users.user_view(u) for u in users.list_users(session)])
    if as_json:
        for row in rows:
            _emit(row)
        return
    table = Table("name", "unit", "roles", "officer id", "disabled", "last sign-in (UTC)", "password")
    for r in rows:
        table.add_row(
            r["username"],
            r["unit"],
            ",".join(r["roles"]),
            r["officer_id"] or "—",
            "[red]yes[/]" if r["disabled"] else "no",
            r["last_sign_in_at"] or "never",
            "one-time" if r["password_change_required"] else "own",
        )
    out.print(table)


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Stop a user signing in; their tokens are revoked."""
    _in_transaction(lambda session: users.disable(session, name))
    out.print(f"user {name} disabled")


def main() -> None:
    """Entry point: domain errors become a message and their exit code, once, here."""
    logging.basicConfig(
        level=os.environ.get("EVIDENCE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        app()
    except EvidenceError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
