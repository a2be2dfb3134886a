"""What a test run may not leave behind: child processes, listening ports, temporary folders.

The suite points ``TMPDIR`` at a folder of its own (see ``private_tmpdir``), so whatever code under
test or a child makes with ``tempfile`` lands there and can be told from other programs' files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_SCRATCH: list[Path] = []


def private_tmpdir(folder: Path) -> None:
    """Make ``folder`` this process's (and its children's) temporary folder."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # tempfile caches the folder it found first


def scratch_dir(prefix: str) -> Path:
    """A temporary folder made outside any fixture (e.g. at collection), removed at the session's end."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _SCRATCH.append(path)
    return path


def remove_scratch() -> None:
    while _SCRATCH:
        shutil.rmtree(_SCRATCH.pop(), ignore_errors=True)


def _stat(pid: str) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) of a process, or None if it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    state, ppid = text.rsplit(")", 1)[1].split()[:2]
    return name, state, int(ppid)


def live_children(pid: int | None = None) -> list[str]:
    """The processes whose parent is ``pid`` (this one by default) and that still run (zombies have ended)."""
    pid = pid or os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(entry)) and stat[2] == pid and stat[1] not in {"Z", "X"}:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"pid {entry} ({cmdline.strip() or stat[0]})")
    return found


def listening_ports() -> list[int]:
    """TCP ports this process listens on."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def leftovers(tmpdir: Path) -> list[str]:
    """Everything the run left behind, as one line each; empty when clean."""
    problems = [f"child process still running: {p}" for p in live_children()]
    problems += [f"port still listening: 127.0.0.1:{p}" for p in listening_ports()]
    if tmpdir.is_dir():
        problems += [f"temporary file or folder left: {p}" for p in sorted(tmpdir.iterdir())]
    return problems
