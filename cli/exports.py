"""`evidence export` and `evidence verify-export`: signed case packages, made here and checked offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from sqlalchemy.orm import Session

from cli.console import emit, err, out
from cli.wiring import operator, runtime
from evidence import export, export_verify, unit_of_work
from evidence.errors import CustodyBroken, InvalidInput


def export_case(
    case: Annotated[str, typer.Option("--case", help="The case number")],
    to: Annotated[Path, typer.Option("--out", help="A new folder for the package (must not exist)")],
    with_proxies: Annotated[bool, typer.Option("--with-proxies", help="Add the viewing copies too")] = False,
) -> None:
    """Write a signed BagIt package of a case's originals, clips and custody logs (check it with verify-export)."""
    if to.exists():
        raise InvalidInput(f"{to} already exists: choose a new folder for the export")
    with runtime() as rt:

        def ask(session: Session) -> int:
            row = export.request(session, export.case_by_number(session, case), operator(), rt.agent(), with_proxies)
            return row.id

        export_id = unit_of_work.run(rt.sessions, ask)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("export", total=None)

            def progress(what: str, done: int, total: int) -> None:
                bar.update(task, description=Path(what).name[:40], completed=done, total=total)

            try:
                result = export.run(
                    rt.sessions,
                    rt.ready_store(),
                    rt.signer(),
                    export_id,
                    to,
                    agent=rt.agent(),
                    zone=rt.settings.zone,
                    progress=progress,
                )
            except BaseException as exc:
                export.fail(rt.sessions, export_id, f"{type(exc).__name__}: {exc}")
                raise
    out.print(
        f"export {export_id} of case {case}: {result.items} items, {result.files} files, {result.bytes} bytes "
        f"in {result.path}; custody checkpoint of {result.tree_size} events; "
        f"tagmanifest sha256 {result.tagmanifest_sha256}"
    )


def verify_export(
    path: Annotated[Path, typer.Argument(help="The package folder")],
    pubkey: Annotated[
        str | None,
        typer.Option(help="The key you trust: note form (name+id+base64), PEM, or a file holding either"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per failure, then a summary")] = False,
) -> None:
    """Check an export package offline: files, custody events, proofs, signatures; exit 8 naming each failure."""
    report = export_verify.verify(path, pubkey)
    for failure in report.failures:
        if as_json:
            emit({"kind": failure.kind, "where": failure.where, "message": failure.message})
        else:
            err.print(f"FAILED {failure}", markup=False)
    summary = (
        f"{report.files} files, {report.events} custody events, checkpoint of {report.tree_size} events, "
        f"key {report.key or 'none'}"
    )
    if report.ok:
        if as_json:
            emit({"ok": True, "files": report.files, "events": report.events, "key": report.key})
        else:
            out.print(f"export intact: {summary}", markup=False)
        return
    kinds = sorted({f.kind for f in report.failures})
    raise CustodyBroken(f"export BROKEN: {len(report.failures)} problems ({', '.join(kinds)}); checked {summary}")
