"""`evidence ingest` and `evidence status`: files through the pipeline once, and what ingest leaves alone."""

from __future__ import annotations

import os
import stat
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from cli.console import emit, err, out
from cli.wiring import in_database, runtime, settings
from evidence import items, skipped, unit_of_work
from evidence.errors import EvidenceError, InvalidInput, NotFound, RejectedFile
from evidence.names import printable
from storage_config.settings import Settings, UploadPoint

NO_SUCH_FILE = "no such file"


def ingest(
    files: Annotated[list[Path], typer.Argument(help="Files to ingest")],
    station: Annotated[str | None, typer.Option(help="Station id to record")] = None,
    process: Annotated[bool, typer.Option(help="Also probe and make proxies before returning")] = True,
) -> None:
    """Ingest files once through the same pipeline as the daemon; one JSON line per file."""
    from ingest import worker
    from ingest.pipeline import ingest_file

    failed: list[int] = []  # exit codes, in file order: the first is the command's
    done: list[tuple[int | None, dict]] = []
    with runtime() as rt:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as bar:
            for path in files:
                problem = _not_a_file(path)
                if problem:
                    failed.append(NotFound.exit_code if problem == NO_SUCH_FILE else InvalidInput.exit_code)
                    done.append((None, {"path": printable(path), "outcome": "error", "error": problem}))
                    continue
                point, rt.settings = _point_for(path, station)
                task = bar.add_task(escape(printable(path.name)), total=os.lstat(path).st_size)
                try:
                    result = ingest_file(rt, point, Path(os.path.abspath(path)), on_bytes=partial(bar.advance, task))
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
        views = unit_of_work.run(rt.sessions, lambda session: _item_views(session, done))
    for (_, line), view in zip(done, views, strict=True):
        if view is not None:
            line["item"] = view
        emit(line)
    if failed:
        raise typer.Exit(failed[0])


def _item_views(session, done: list[tuple[int | None, dict]]) -> list[dict | None]:
    return [None if item_id is None else items.item_view(items.get_item(session, item_id)) for item_id, _ in done]


def _point_for(path: Path, station: str | None) -> tuple[UploadPoint, Settings]:
    """The upload point holding ``path`` (links on the way are not resolved: the pipeline refuses them)."""
    s = settings()
    absolute = Path(os.path.abspath(path))
    for point in s.points:
        for root in (Path(os.path.abspath(point.path)), point.path.resolve()):
            if absolute.is_relative_to(root):
                return UploadPoint(station_id=station or point.station_id, path=root), s
    # A file outside every upload point is never moved or deleted: it belongs to whoever ran us.
    return UploadPoint(station_id=station or s.station_id, path=absolute.parent), s.model_copy(
        update={"source_policy": "keep"}
    )


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


def status(as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False) -> None:
    """What ingest leaves alone in the upload points and why: links, litter, FIFOs, unreadable or stuck files."""
    rows = in_database(skipped.listing)
    if as_json:
        for row in rows:
            emit(row)
        return
    if not rows:
        out.print("nothing skipped: every file in the upload points is ingested or settling")
        return
    table = Table("kind", "station", "path", "reason", "since (UTC)")
    for r in rows:
        table.add_row(r["kind"], escape(r["station_id"]), escape(r["path"]), escape(r["reason"]), r["first_seen"])
    out.print(table)
    out.print(f"{len(rows)} skipped; the daemon refreshes this list at every rescan")
