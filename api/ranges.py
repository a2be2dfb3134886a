"""HTTP Range requests (RFC 9110 §14): one byte range per request, as media players send."""

from __future__ import annotations

import re

from evidence.errors import EvidenceError

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(EvidenceError):
    def __init__(self, size: int):
        super().__init__(f"range not satisfiable: the representation has {size} bytes")
        self.size = size


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive, or None for the whole body (no header, or one we may ignore)."""
    if not header:
        return None
    match = _SINGLE.match(header.strip().replace(" ", ""))
    if not match:
        return None  # several ranges or bad syntax: RFC 9110 lets us send the whole body
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignore
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, end
