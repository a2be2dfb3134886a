"""Running ffmpeg/ffprobe: every call has a timeout and is killed when it expires, or when its caller dies."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from evidence.errors import MediaError, ToolMissing, ToolTimeout


@dataclass(frozen=True)
class ToolRun:
    args: list[str]
    stdout: bytes
    stderr: bytes


PR_SET_PDEATHSIG = 1  # linux/prctl.h
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # Linux only; resolved here, not in the child


def _dies_with(parent: int) -> Callable[[], None] | None:
    """A child setup that has the kernel SIGKILL the tool when the thread that started it ends (Linux).

    The tool runs in a session of its own (Ctrl-C at a terminal reaches the worker, which lets a job
    finish), so a kill of the worker's process group (SIGKILL, the OOM killer) does not reach it:
    without this it would run on for up to the tool timeout, for nobody. The thread that starts a tool
    waits for it (``communicate``), so it ends only when the worker does. The setup calls no more than
    two system calls: nothing that could wait on a lock another thread held at the fork.
    """
    if _prctl is None:
        return None
    prctl = _prctl

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the worker died before the line above: the kernel will not tell us
            os._exit(1)

    return setup


def run_tool(args: list[str], timeout: float) -> ToolRun:
    """Run ``args``; MediaError on failure, ToolTimeout (after killing it) on expiry, ToolMissing when absent."""
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a kill reaches any child it started
            preexec_fn=_dies_with(os.getpid()),  # two system calls, no lock: see _dies_with
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{args[0]} is not installed or not on PATH") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ToolTimeout(f"{os.path.basename(args[0])} ran over {timeout:g}s and was killed") from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise MediaError(f"{os.path.basename(args[0])} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return ToolRun(args, out, err)


@functools.lru_cache(maxsize=8)
def tool_version(binary: str) -> str:
    """``ffmpeg 5.1.9-0+deb12u1`` style name and version, for custody records."""
    try:
        first = run_tool([binary, "-version"], timeout=15).stdout.decode().splitlines()[0]
    except (MediaError, IndexError):
        return f"{os.path.basename(binary)} (version unknown)"
    parts = first.split()
    return f"{parts[0]} {parts[2]}" if len(parts) > 2 and parts[1] == "version" else first
