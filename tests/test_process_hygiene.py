"""Processes the tests start never outlive them, whatever happens; and the run checks that nothing is left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import hygiene
from tests.servers import kill_group, spawn

ROOT = Path(__file__).resolve().parent.parent


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}  # a zombie has ended; only its exit status waits to be read


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_spawned_process_dies_when_the_test_process_is_killed():
    stand_in = (
        "import time; from tests.servers import spawn; print(spawn(['sleep', '300']).pid, flush=True); time.sleep(300)"
    )
    parent = subprocess.Popen([sys.executable, "-c", stand_in], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    assert gone(child), "the child outlived the killed test process"


def test_kill_group_ends_what_the_process_started_too(tmp_path):
    pids = tmp_path / "pids"
    proc = spawn(["sh", "-c", f"sleep 300 & echo $! > {pids}; wait"])
    deadline = time.monotonic() + 10
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pids.read_text())
    kill_group(proc)
    assert proc.returncode is not None and gone(grandchild)


def test_the_leftover_check_sees_a_child_a_listening_port_and_a_temp_folder(tmp_path):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    before = hygiene.leftovers(tmpdir)  # the session's own servers (moto) run until its end
    proc = spawn(["sleep", "300"])
    listener = socket.create_server(("127.0.0.1", 0))
    (tmpdir / "evidence-left").mkdir()
    try:
        found = "\n".join(hygiene.leftovers(tmpdir))
        assert f"pid {proc.pid} " in found
        assert f"127.0.0.1:{listener.getsockname()[1]}" in found
        assert "evidence-left" in found
    finally:
        kill_group(proc)
        listener.close()
    (tmpdir / "evidence-left").rmdir()
    assert hygiene.leftovers(tmpdir) == before


def test_the_suite_runs_with_a_temp_folder_of_its_own():
    assert Path(tempfile.gettempdir()) == Path(os.environ["TMPDIR"])
    assert Path(tempfile.gettempdir()).name == "tmpdir"
