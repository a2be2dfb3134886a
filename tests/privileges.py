"""Running a thread as root without the power to ignore file permissions, so "unreadable" is real.

The tests run as root, for whom permission bits mean nothing. Linux keeps
capabilities per thread: dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
from one thread makes it obey permissions like any user, and threads it starts
inherit that. The rest of the test process keeps its powers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import threading
from pathlib import Path

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_DAC = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
_libc = ctypes.CDLL(None, use_errno=True)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_permission_override() -> None:
    """From now on the calling thread (and threads it starts) obeys file permissions."""
    header, data = _Header(_LINUX_CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~_DAC
    data[0].permitted &= ~_DAC  # nor may it take them back
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def run_unprivileged(fn, *args, **kwargs):
    """Call ``fn`` in a thread that obeys file permissions; return its result or raise its error."""
    box: dict = {}

    def target():
        try:
            drop_permission_override()
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@contextlib.contextmanager
def immutable(path: Path):
    """``chattr +i``: not even root may rename, delete or change the file until it is lifted."""
    subprocess.run(["chattr", "+i", os.fspath(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", os.fspath(path)], check=False)
