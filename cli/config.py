"""`evidence config`: the effective settings, secrets masked."""

from __future__ import annotations

import json

from cli.console import out
from cli.wiring import settings
from storage_config.urls import mask_url


def config() -> None:
    """Print the effective settings, secrets masked."""
    s = settings()
    shown = s.model_dump(mode="json")
    shown["storage_url"] = mask_url(s.storage_url)
    shown["database_url"] = mask_url(s.database_url)
    shown["upload_points"] = [{"station_id": p.station_id, "path": str(p.path)} for p in s.points]
    for key, value in shown.items():
        out.print(f"[bold]EVIDENCE_{key.upper()}[/bold] = {json.dumps(value, ensure_ascii=False)}", highlight=False)
