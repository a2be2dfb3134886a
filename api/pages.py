"""Opaque keyset cursors for paged lists: ``next_cursor`` names the last row handed out."""

from __future__ import annotations

import base64
import binascii

from evidence.errors import InvalidInput
from evidence.items import valid_id


def encode_cursor(kind: str, last: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The row key inside a cursor of ``kind``; anything else (or out of range) is a 422."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, value = text.partition(":")
        last = int(value)
        if found != kind or not value.isdigit() or not valid_id(last):
            raise ValueError(text)
        return last
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput("cursor: not a cursor this API handed out") from exc
