"""File names from hostile disks: a faithful printable form, and the exact bytes when text cannot hold them.

Python hands a name that is not valid UTF-8 over as text with lone surrogates
(``\\udcff`` for the byte 0xff), which no database column or JSON body can
carry; a name with a newline or a terminal escape would forge log lines or
repaint an operator's terminal. Such names are stored as their escaped form
plus the exact bytes, and shown escaped everywhere.

The escaped form: a byte that is not UTF-8 becomes ``\\xNN``, a character that
is not printable becomes ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``, and a
backslash is doubled, so two different names never look alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fnmatch import fnmatchcase


def printable(name: str | bytes | os.PathLike[str] | os.PathLike[bytes], *, backslash: bool = True) -> str:
    """The name with undecodable bytes, control and invisible characters escaped (for logs, terminals, JSON).

    ``backslash=False`` leaves backslashes alone: for messages that already hold escaped names."""
    text = name if isinstance(name, str) else os.fsdecode(name)
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\" if backslash else ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def stored_form(name: str) -> tuple[str, bytes | None]:
    """What the database keeps: the name when it needs no escaping, else its escaped form plus the exact bytes.

    Text columns thus only ever hold printable names, safe to show anywhere."""
    shown = printable(name)
    return (name, None) if shown == name else (shown, os.fsencode(name))


def on_disk(text: str, raw: bytes | None) -> str:
    """The name to hand to the operating system, from what :func:`stored_form` gave."""
    return text if raw is None else os.fsdecode(raw)


# -- names that are never evidence -------------------------------------------

IGNORED_SUFFIXES = (".part", ".tmp", "~")


def name_reason(name: str, patterns: Sequence[str], last: bool) -> str | None:
    """Why one path component is not a candidate (litter, hidden; partial when ``last``), or None."""
    lowered = name.lower()
    for pattern in patterns:
        if fnmatchcase(lowered, pattern.lower()):
            return f"ignored: operating-system litter (EVIDENCE_IGNORE pattern {pattern!r})"
    if name.startswith("."):
        return "ignored: hidden name"
    if last and lowered.endswith(IGNORED_SUFFIXES):
        return "ignored: partial or temporary file (*.part, *.tmp, *~)"
    return None


def ignore_reason(rel_path: str, patterns: Sequence[str] = ()) -> str | None:
    """Why a path is not a candidate by its name alone (litter, hidden, partial), or None."""
    parts = rel_path.split("/")
    for n, part in enumerate(parts):
        reason = name_reason(part, patterns, n == len(parts) - 1)
        if reason:
            return reason
    return None
