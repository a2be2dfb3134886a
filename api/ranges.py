"""HTTP Range requests (RFC 9110 §14): one byte range per request, as media players send; If-Range."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

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


def http_date(moment: datetime) -> str:
    """``moment`` as an IMF-fixdate (RFC 9110 §5.6.7), e.g. ``Sun, 01 Nov 2026 08:00:00 GMT``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def if_range_holds(header: str | None, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 §13.1.5: may the Range be served? No If-Range: yes. An entity tag: only by strong
    comparison (a weak tag never matches). An HTTP-date: only when it equals Last-Modified."""
    if header is None:
        return True
    value = header.strip()
    if value.startswith(('"', "W/")):
        return not value.startswith("W/") and value == etag and not etag.startswith("W/")
    try:
        given = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False  # neither a tag nor a date: not a match, so the whole representation
    if given.tzinfo is None:
        given = given.replace(tzinfo=UTC)  # the asctime form has no zone; HTTP-dates are GMT
    return given == last_modified.astimezone(UTC).replace(microsecond=0)
