"""`evidence fixity`: re-read stored originals and clips, recompute their SHA-256, record each check."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from cli.console import emit, err, out
from cli.wiring import operator, runtime
from evidence import fixity as audits
from evidence import unit_of_work
from evidence.errors import FixityAlarm, InvalidInput


def fixity(
    sample: Annotated[
        float | None, typer.Option(metavar="PERCENT", help="Check a random PERCENT of the selected items")
    ] = None,
    older_than: Annotated[
        float | None, typer.Option(metavar="DAYS", help="Only items not checked for DAYS days (or never)")
    ] = None,
    item: Annotated[int | None, typer.Option(metavar="ID", help="Check this item only")] = None,
    resolve: Annotated[
        str | None,
        typer.Option(
            metavar="REASON", help="With --item: check it now and, if it passes, clear its alarm (recorded with REASON)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per item checked")] = False,
) -> None:
    """Re-read stored originals and clips (streamed), recompute SHA-256 and size, record a custody event
    per item. A changed or missing object sets the item's fixity alarm; exit 9 if any checked item is in alarm."""
    if resolve is not None and item is None:
        raise InvalidInput("--resolve needs --item: an alarm is resolved one item at a time")
    with runtime() as rt:
        store = rt.ready_store()
        targets = unit_of_work.run(
            rt.sessions,
            lambda session: audits.select_targets(
                session, item_id=item, older_than_days=older_than, sample_percent=sample
            ),
        )
        with Progress(
            TextColumn("fixity"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.description}"),
            console=err,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("", total=sum(t.size_bytes for t in targets))

            def done(result: audits.Result) -> None:
                if as_json:
                    emit(result.as_dict())
                elif result.alarm or result.skipped:
                    why = result.skipped or ("MISSING" if result.missing else "MISMATCH" if not result.ok else "")
                    out.print(f"item {result.item_id}: {why or 'passed, but an earlier alarm stands'}")
                bar.update(task, description=f"item {result.item_id}")

            results = audits.check_all(
                rt.sessions,
                store,
                targets,
                agent=rt.agent(),
                on_bytes=lambda n: bar.advance(task, n),
                on_result=done,
            )
        if resolve is not None and results:
            unit_of_work.run(
                rt.sessions,
                lambda session: audits.resolve(session, results[0], resolve, agent=rt.agent(), by=operator()),
            )
            results = [dataclasses.replace(results[0], alarm=False)]
            out.print(f"item {results[0].item_id}: passes its check; alarm resolved")
        standing = unit_of_work.run(rt.sessions, audits.alarm_count)
    checked = [r for r in results if r.skipped is None]
    failed = [r for r in checked if not r.ok]
    alarms = [r for r in checked if r.alarm]
    megabytes = sum(r.bytes_read for r in checked) / 1e6
    summary = (
        f"fixity: {len(checked)} checked ({megabytes:.1f} MB), {len(checked) - len(failed)} passed, "
        f"{len(failed)} failed; {standing} item(s) in alarm in all"
    )
    (err if as_json else out).print(summary, highlight=False)  # stdout stays JSON lines only
    if alarms:
        ids = ", ".join(str(r.item_id) for r in alarms)
        raise FixityAlarm(f"fixity alarm on item(s) {ids}: see `evidence custody log ID`")
