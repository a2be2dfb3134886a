"""Which files in an upload point are candidates, which are left alone and why, and the full rescan.

Links are never followed: the walk uses ``os.scandir`` without following, so
a link (to a file, a folder outside, or itself) is reported, not entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from evidence.names import ignore_reason, name_reason, printable
from evidence.skipped import Skip, SkipKind
from evidence.uploads import TICKETS

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def describe(mode: int) -> str:
    """What kind of file a stat mode says this is, in words (``a FIFO (named pipe)``)."""
    return next((words for test, words in _KINDS if test(mode)), "an unknown kind of file")


def in_archive(rel_path: str, archive_dirname: str) -> bool:
    """The upload point's archive folder holds released sources: never a candidate, never listed."""
    return rel_path.split("/", 1)[0] == archive_dirname


def is_ignored(rel_path: str, archive_dirname: str, patterns: Sequence[str] = ()) -> bool:
    """Hidden files and folders, partial/temporary files, litter and the archive folder are not evidence."""
    return in_archive(rel_path, archive_dirname) or ignore_reason(rel_path, patterns) is not None


def device_serial_for(rel_path: str) -> str | None:
    """The recorder serial: the first folder under the upload point (``ZFY0001/clip.mp4``)."""
    parts = rel_path.split("/")
    return parts[0] if len(parts) > 1 else None


def _link_reason(path: str) -> str:
    try:
        target = f" to {printable(os.readlink(path))}"
    except OSError:
        target = ""
    return f"symbolic link{target}: links are never followed and are not evidence"


def _entry(entry: os.DirEntry, rel: str, patterns: Sequence[str]) -> Path | Skip | str:
    """A candidate file, a skip, or the relative path of a folder to enter."""
    if entry.is_symlink():
        return Skip(rel, SkipKind.LINK, _link_reason(entry.path))
    is_dir = entry.is_dir(follow_symlinks=False)
    reason = name_reason(entry.name, patterns, last=not is_dir)
    if reason:
        return Skip(rel, SkipKind.IGNORED, reason.replace("ignored:", "ignored folder:") if is_dir else reason)
    if is_dir:
        return rel + "/"
    if entry.is_file(follow_symlinks=False):
        return Path(entry.path)
    kind = describe(entry.stat(follow_symlinks=False).st_mode)
    return Skip(rel, SkipKind.SPECIAL, f"not a regular file: {kind}")


def walk(root: Path, archive_dirname: str, patterns: Sequence[str] = ()) -> Iterator[Path | Skip]:
    """Every candidate file below ``root`` and every thing left alone, in name order, never following links."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(root / rel_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            continue  # gone between listing and entering (or the upload point is not there yet)
        except OSError as exc:
            if rel_dir:
                yield Skip(
                    rel_dir.rstrip("/"),
                    SkipKind.UNREADABLE,
                    f"unreadable: folder cannot be listed ({exc.strerror or exc})",
                )
            continue
        folders = []
        for entry in entries:
            rel = rel_dir + entry.name
            if not rel_dir and entry.name in (archive_dirname, TICKETS):
                continue  # our own folders: released sources, browser-upload tickets
            try:
                found = _entry(entry, rel, patterns)
            except FileNotFoundError:
                continue
            except OSError as exc:
                found = Skip(rel, SkipKind.UNREADABLE, f"unreadable: {exc.strerror or exc}")
            if isinstance(found, str):
                folders.append(found)
            else:
                yield found
        stack.extend(reversed(folders))


def scan(root: Path, archive_dirname: str, patterns: Sequence[str] = ()) -> Iterator[Path]:
    """Every candidate file below ``root`` (a full rescan, for files no event announced)."""
    return (found for found in walk(root, archive_dirname, patterns) if isinstance(found, Path))
