"""The ``evidence`` command: the command tree, and domain errors turned into exit codes, once.

The ``cli`` package is the composition root: it wires settings, the daemon and the API together;
``ingest`` and ``api`` never import each other.
"""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.markup import escape

from cli import (
    attribution,
    config,
    custody,
    devices,
    excuses,
    exports,
    fixity,
    holds,
    ingesting,
    items,
    jobs,
    reports,
    retention,
    samples,
    serving,
    shifts,
    station,
    users,
    worker,
)
from cli.console import err
from evidence.errors import EvidenceError

app = typer.Typer(
    help="Evidence management for enforcement recordings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# In this order in `evidence --help`
app.command()(config.config)
app.command()(samples.samples)
app.command()(serving.up)
app.command()(serving.serve)
app.command()(station.station)
app.command()(worker.worker)
app.command()(ingesting.ingest)
app.command()(ingesting.status)
app.command("list")(items.list_items)
app.command()(items.show)
app.command()(attribution.attribute)
app.command()(excuses.excuse)
app.add_typer(excuses.app, name="excuses")
app.add_typer(reports.app, name="report")
app.command("export")(exports.export_case)
app.command("verify-export")(exports.verify_export)
app.command()(holds.hold)
app.command()(holds.release)
app.add_typer(custody.app, name="custody")
app.command()(fixity.fixity)
app.add_typer(devices.app, name="devices")
app.add_typer(shifts.app, name="shifts")
app.add_typer(users.app, name="users")
app.add_typer(retention.app, name="retention")
app.command()(jobs.jobs)


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
