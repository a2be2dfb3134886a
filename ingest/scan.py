"""Which files in an upload point are candidates: the ignore rules and the full rescan."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

IGNORED_SUFFIXES = (".part", ".tmp", "~")


def is_ignored(rel_path: str, archive_dirname: str) -> bool:
    """Hidden files and folders, partial/temporary files and the archive folder are not evidence."""
    parts = rel_path.split("/")
    if parts[0] == archive_dirname:
        return True
    if any(part.startswith(".") for part in parts):
        return True
    name = parts[-1].lower()
    return name.endswith(IGNORED_SUFFIXES)


def device_serial_for(rel_path: str) -> str | None:
    """The recorder serial: the first folder under the upload point (``ZFY0001/clip.mp4``)."""
    parts = rel_path.split("/")
    return parts[0] if len(parts) > 1 else None


def scan(root: Path, archive_dirname: str) -> Iterator[Path]:
    """Every candidate file below ``root`` (a full rescan, for files no event announced)."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames if not is_ignored(rel_dir + d + "/x", archive_dirname))
        for name in sorted(filenames):
            if not is_ignored(rel_dir + name, archive_dirname):
                yield Path(dirpath) / name
