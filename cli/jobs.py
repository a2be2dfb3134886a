"""`evidence jobs`: the job queue at the console; failed jobs and their errors, and retrying one."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import emit, out
from cli.wiring import operator, reading, runtime
from evidence import jobs as queue
from evidence import unit_of_work
from evidence.jobs import JobKind
from evidence.models import JobState


def jobs(
    state: Annotated[
        JobState | None, typer.Option(help="Only jobs in this state (failed: parked with their error)")
    ] = None,
    kind: Annotated[JobKind | None, typer.Option(help="Only jobs of this kind")] = None,
    retry: Annotated[
        int | None,
        typer.Option("--retry", metavar="ID", help="Put failed job ID back in the queue, its attempts reset"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many jobs")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """List jobs (most urgent first), or retry a failed one (a custody event when it belongs to an item)."""
    if retry is not None:
        by = operator()
        with runtime() as rt:
            view = unit_of_work.run(rt.sessions, lambda s: queue.job_view(queue.requeue(s, retry, by, rt.agent())))
        if as_json:
            emit(view)
        else:
            out.print(f"job {view['id']} ({view['kind']}) queued again; attempts reset")
        return
    views = reading(lambda s: [queue.job_view(j) for j in queue.list_jobs(s, state, kind, limit)])
    if as_json:
        for view in views:
            emit(view)
        return
    table = Table("id", "kind", "state", "item", "priority", "attempts", "run after / finished (UTC)", "owner", "error")
    for v in views:
        table.add_row(
            str(v["id"]),
            v["kind"],
            "[red]failed[/]" if v["state"] == "failed" else v["state"],
            "—" if v["item_id"] is None else str(v["item_id"]),
            str(v["priority"]),
            str(v["attempts"]),
            v["finished_at"] or v["run_after"] or "—",
            escape(v["owner"] or "—"),
            escape((v["last_error"] or "")[-200:]),
        )
    out.print(table)
