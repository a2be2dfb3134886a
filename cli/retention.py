"""`evidence retention sweep`: expire, purge and restore items by the retention rules."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from cli.console import emit, out
from cli.wiring import parse_time, runtime
from evidence import object_lock, sweeper
from evidence.models import utcnow

app = typer.Typer(help="Retention: how long footage is kept, and the sweeper.", no_args_is_help=True)


@app.command()
def sweep(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what a real run would do; change nothing")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", metavar="DATE", help="Judge as of this time (ISO 8601; default now)")
    ] = None,
    fmt: Annotated[Literal["table", "json"], typer.Option("--format")] = "table",
) -> None:
    """Expire items past their retention, purge those expired longer than the grace period, restore
    the ones kept again. A real run with --as-of in the future needs EVIDENCE_ALLOW_CLOCK_OVERRIDE=1."""
    moment = parse_time(as_of) if as_of else None
    with runtime() as rt:
        s = rt.settings
        locks = None
        if not dry_run:  # the originals' object locks first, as the daemon does (evidence/object_lock.py)
            now = utcnow()
            sweeper.check_clock(moment or now, dry_run, s.allow_clock_override, now)  # refused before any change
            locks = object_lock.refresh(rt.sessions, rt.ready_store(), rt.agent())
        report = sweeper.sweep(
            rt.sessions,
            rt.ready_store(),
            as_of=moment,
            dry_run=dry_run,
            rules=s.retention,
            grace_days=s.retention_grace_days,
            agent=rt.agent(),
            allow_clock_override=s.allow_clock_override,
        )
    if fmt == "json":
        emit({**report.as_dict(), "locks": locks.as_dict() if locks else None})
    else:
        view = report.as_dict()
        out.print(f"as of {view['as_of']}{' (dry run: nothing changed)' if dry_run else ''}", highlight=False)
        for what in ("expired", "purged", "restored", "deferred", "errors"):
            out.print(f"{what}: {len(view[what])}", highlight=False)
            for row in view[what]:
                out.print("  " + ", ".join(f"{k}={v}" for k, v in row.items()), highlight=False)
        if locks is not None:
            out.print(
                f"object lock ({locks.status}): {len(locks.locked)} original(s) locked, {len(locks.errors)} failed",
                highlight=False,
            )
            for row in locks.errors:
                out.print(f"  id={row['id']}, error={row['error']}", highlight=False)
    if report.errors or (locks is not None and locks.errors):
        raise typer.Exit(75)  # some purges wait for the store: the next run tries again
