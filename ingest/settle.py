"""Deciding when a file is complete: unchanged in size and mtime over the settle window, and closed.

The settler only tracks observations; the daemon feeds it paths (from events
and rescans) and asks which are ready.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    stable_since: float
    file: tuple[int, int]  # (device, inode)


def files_open_for_writing() -> set[tuple[int, int]]:
    """(device, inode) of every file some process holds open for writing (Linux /proc; empty where unknown).

    One pass over /proc serves every candidate: a burst of a thousand files must not walk it a thousand times."""
    proc = Path("/proc")
    found: set[tuple[int, int]] = set()
    if not proc.is_dir():
        return found
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        fd_dir = pid_dir / "fd"
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(fd)
                if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in found:
                    continue
                flags = int((pid_dir / "fdinfo" / fd.name).read_text().split("flags:")[1].split()[0], 8)
            except (OSError, IndexError, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                found.add((st.st_dev, st.st_ino))
    return found


def open_for_writing(path: Path) -> bool:
    """True when some process holds ``path`` open for writing (Linux /proc; False where unknown)."""
    try:
        target = os.lstat(path)
    except OSError:
        return False
    return (target.st_dev, target.st_ino) in files_open_for_writing()


class Settler:
    """Tracks candidate files and says which have stopped changing."""

    def __init__(
        self,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        writers: Callable[[], Collection[tuple[int, int]]] = files_open_for_writing,
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.writers = writers
        self._seen: dict[Path, _Seen] = {}

    def observe(self, path: Path) -> None:
        """Note the file's current size and mtime; a change restarts its window.

        Only regular files are tracked (never through a link); anything else is
        the rescan's to report."""
        try:
            st = os.lstat(path)
        except OSError:
            self._seen.pop(path, None)
            return
        if not stat.S_ISREG(st.st_mode):
            self._seen.pop(path, None)
            return
        now = self.clock()
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
            self._seen[path] = _Seen(st.st_size, st.st_mtime_ns, now, (st.st_dev, st.st_ino))

    def ready(self) -> list[Path]:
        """Files unchanged for the whole window and not open for writing, oldest first."""
        now = self.clock()
        stable = []
        for path in list(self._seen):
            self.observe(path)
            seen = self._seen.get(path)
            if seen is not None and now - seen.stable_since >= self.window_s:
                stable.append(path)
        busy = self.writers() if stable else ()
        out = []
        for path in stable:
            seen = self._seen[path]
            if seen.file in busy:
                seen.stable_since = now
            else:
                out.append(path)
        out.sort(key=lambda p: self._seen[p].stable_since)
        return out

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)

    def waiting(self) -> dict[Path, float]:
        """Each file still watched, with the clock time since when it has been unchanged."""
        return {path: seen.stable_since for path, seen in list(self._seen.items())}

    def __len__(self) -> int:
        return len(self._seen)
