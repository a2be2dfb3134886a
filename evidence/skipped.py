"""The skipped list: what ingest leaves alone in an upload point, and why.

Links, operating-system litter, hidden and partial files, FIFOs and files that
cannot be read or released appear here, so that an operator can see why a
file on the station's disk is not in the system. Rows are kept current by the
daemon's rescans (both the daemon and a separate ``evidence status`` read them)
and vanish when the file is gone or ingested.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from evidence.items import iso
from evidence.models import SkippedFile, utcnow
from evidence.names import printable


class SkipKind(str, enum.Enum):
    LINK = "link"  # a symbolic link: never followed, not evidence
    IGNORED = "ignored"  # litter, hidden or partial files (EVIDENCE_IGNORE and built-in rules)
    SPECIAL = "special"  # not a regular file: FIFO, socket, device
    UNREADABLE = "unreadable"  # cannot be listed, opened or read; retried with backoff
    UNRELEASED = "unreleased"  # stored, but cannot be moved or deleted; retried with backoff


@dataclass(frozen=True)
class Skip:
    """One thing left alone; ``rel_path`` is the name as the operating system gave it."""

    rel_path: str
    kind: SkipKind
    reason: str


def _key(upload_point: str, rel_path: str) -> str:
    return hashlib.sha256(os.fsencode(upload_point) + b"\0" + os.fsencode(rel_path)).hexdigest()


def _row(station_id: str, upload_point: str, skip: Skip, now: datetime) -> SkippedFile:
    return SkippedFile(
        key=_key(upload_point, skip.rel_path),
        station_id=station_id,
        upload_point=upload_point,
        path=printable(skip.rel_path),
        path_bytes=os.fsencode(skip.rel_path),
        kind=skip.kind.value,
        reason=skip.reason,
        first_seen=now,
        last_seen=now,
    )


def _upsert(
    session: Session, row: SkippedFile | None, station_id: str, upload_point: str, skip: Skip, now: datetime
) -> bool:
    if row is None:
        session.add(_row(station_id, upload_point, skip, now))
        return True
    changed = row.kind != skip.kind.value
    row.kind, row.reason, row.last_seen = skip.kind.value, skip.reason, now
    return changed


def _rows(session: Session, upload_point: str) -> dict[str, SkippedFile]:
    return {r.key: r for r in session.scalars(select(SkippedFile).where(SkippedFile.upload_point == upload_point))}


def reconcile(
    session: Session, station_id: str, upload_point: str, found: Iterable[Skip], keep: Iterable[str] = ()
) -> list[Skip]:
    """Make the list for one upload point what a rescan found (plus ``keep``, files failing elsewhere).

    Returns the skips that are new or changed kind, the ones worth a log line.
    """
    now = utcnow()
    rows = _rows(session, upload_point)
    fresh = []
    wanted = {_key(upload_point, p) for p in keep}
    for skip in found:
        wanted.add(_key(upload_point, skip.rel_path))
        row = rows.get(_key(upload_point, skip.rel_path))
        if _upsert(session, row, station_id, upload_point, skip, now):
            fresh.append(skip)
    gone = [key for key in rows if key not in wanted]
    if gone:
        session.execute(delete(SkippedFile).where(SkippedFile.key.in_(gone)))
    return fresh


def note(session: Session, station_id: str, upload_point: str, skip: Skip) -> bool:
    """Add or refresh one entry (a file that failed); True when it is new or changed kind."""
    row = session.scalars(select(SkippedFile).where(SkippedFile.key == _key(upload_point, skip.rel_path))).first()
    return _upsert(session, row, station_id, upload_point, skip, utcnow())


def clear(session: Session, upload_point: str, rel_path: str) -> None:
    """The file was ingested (or is gone): it is no longer skipped."""
    session.execute(delete(SkippedFile).where(SkippedFile.key == _key(upload_point, rel_path)))


def listing(session: Session) -> list[dict[str, Any]]:
    """Every skipped entry, oldest first, as shown by ``evidence status`` and the API."""
    rows = session.scalars(select(SkippedFile).order_by(SkippedFile.first_seen, SkippedFile.id))
    return [
        {
            "station_id": r.station_id,
            "upload_point": printable(r.upload_point),
            "path": r.path,
            "kind": r.kind,
            "reason": r.reason,
            "first_seen": iso(r.first_seen),
            "last_seen": iso(r.last_seen),
        }
        for r in rows
    ]


def count(session: Session) -> int:
    """How many entries the list holds."""
    return session.scalar(select(func.count()).select_from(SkippedFile)) or 0
