"""Where the command writes: tables and messages to the terminal, JSON lines to stdout."""

from __future__ import annotations

import json
import sys

from rich.console import Console

out = Console(emoji=False, highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, emoji=False, highlight=False)


def emit(obj) -> None:
    """One JSON object as one line on stdout, flushed at once (scripts read it as it comes)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
