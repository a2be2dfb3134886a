"""What an export holds, read from the database before any byte is copied (evidence/export.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Member:
    """One item of the package, read from the database before any byte is copied."""

    item_id: int
    sha256: str
    size: int
    object_key: str | None  # None: purged, only its custody log is exported
    path: str  # in the bag, e.g. data/originals/...; "" when there is no file
    role: str  # original | clip | source (an original a linked clip was cut from)
    derived_from: int | None
    device: str | None
    original_filename: str
    recorded_start: datetime | None
    recorded_end: datetime | None
    clip_start_s: float | None
    clip_end_s: float | None
    proxy_key: str | None
    proxy_path: str | None
    clip_tool: str | None = None  # the ffmpeg that cut a clip, from its custody log
    clip_args: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """The case, its members and the checkpoint made for this export."""

    case_id: int
    case_number: str
    case_title: str
    case_unit: str
    checkpoint_id: int
    tree_size: int
    root_hash: str
    note: str
    members: list[Member]
