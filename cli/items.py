"""`evidence list` and `evidence show`: the items, and the files that were rejected."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from cli.console import emit, out
from cli.wiring import in_database
from evidence import items


def list_items(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    unattributed: Annotated[
        bool,
        typer.Option(
            "--unattributed", help="Only footage with no recorder known (to attribute with `evidence attribute`)"
        ),
    ] = False,
) -> None:
    """Every item, and every file that was rejected with its reason."""
    rows, rejected = in_database(lambda session: _listing(session, unattributed))
    if as_json:
        for row in rows + rejected:
            emit(row)
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


def _listing(session: Session, unattributed: bool) -> tuple[list[dict], list[dict]]:
    rows = [items.item_view(i) for i in items.list_items(session, True if unattributed else None)]
    rejected = [] if unattributed else [items.receipt_view(r) for r in items.rejected_receipts(session)]
    return rows, rejected


def show(item_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One item's metadata."""
    view = in_database(lambda session: items.item_view(items.get_item(session, item_id)))
    if as_json:
        emit(view)
    else:
        for key, value in view.items():
            out.print(f"[bold]{key}[/bold]: {value}", highlight=False)
