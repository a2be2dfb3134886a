"""`evidence up` as an operator runs it: what it says, how it stops, and when it gives up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow  # each runs `evidence up` (daemon, worker, API) in a subprocess

EVIDENCE = str(Path(sys.executable).parent / "evidence")


def environment(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(
        EVIDENCE_HOME=str(tmp_path / "home"),
        EVIDENCE_STATION_ID="ST01",
        EVIDENCE_LOG_LEVEL="INFO",
        EVIDENCE_SETTLE_SECONDS="0.2",
        **extra,
    )
    return env


def wait_for_text(log: Path, text: str, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = log.read_text(errors="replace") if log.exists() else ""
        if text in seen:
            return seen
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before saying {text!r}:\n{seen}")
        time.sleep(0.1)
    raise AssertionError(f"never said {text!r}:\n{log.read_text(errors='replace')}")


def test_up_stops_on_sigint_even_when_started_with_sigint_ignored(tmp_path, processes):
    """A shell starts background jobs with SIGINT ignored; `up --no-api` then once ignored Ctrl-C for ever."""
    log = tmp_path / "up.log"
    with open(log, "wb") as sink:
        proc = processes(
            [EVIDENCE, "up", "--no-api"],
            env=environment(tmp_path),
            sigint_ignored=True,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    wait_for_text(log, "watching upload point", proc)
    time.sleep(1)  # under way: connected, recovering or scanning
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert "stopping…" in log.read_text()


def test_up_says_where_the_api_and_its_docs_are_and_who_to_sign_in_as(tmp_path, processes):
    env = environment(tmp_path, EVIDENCE_PORT=str(free_port()))
    made = subprocess.run(
        [EVIDENCE, "users", "add", "demo", "--role", "supervisor", "--unit", "U-DEMO"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    log = tmp_path / "up.log"
    with open(log, "wb") as sink:
        proc = processes([EVIDENCE, "up"], env=env, stdout=subprocess.DEVNULL, stderr=sink)
    said = wait_for_text(log, "demo user:", proc)
    base = f"http://127.0.0.1:{env['EVIDENCE_PORT']}"
    lines = said.splitlines()
    assert f"API on {base} (health: {base}/healthz)" in lines
    assert f"API docs on {base}/docs" in lines
    assert f"Web pages on {base}/ (sign in there)" in lines
    (demo,) = [line for line in lines if line.startswith("demo user:")]
    assert demo.startswith("demo user: demo, supervisor of unit U-DEMO;") and "evidence users passwd demo" in demo
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/docs").status_code == 200
        assert http.get("/healthz").status_code in (200, 503)
    said = wait_for_text(log, '"GET /docs" 200', proc)  # the access log is on by default
    assert "user=-" in said
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()


def test_up_exits_nonzero_when_a_part_cannot_recover(tmp_path, processes):
    """An upload point that is a file: start-up fails every time; `up` gives up rather than stay up half-dead."""
    not_a_folder = tmp_path / "point"
    not_a_folder.write_bytes(b"")
    env = environment(
        tmp_path, EVIDENCE_PORT=str(free_port()), EVIDENCE_UPLOAD_POINTS=str(not_a_folder), EVIDENCE_RESTART_LIMIT="2"
    )
    log = tmp_path / "up.log"
    with open(log, "wb") as sink:
        proc = processes([EVIDENCE, "up"], env=env, stdout=subprocess.DEVNULL, stderr=sink)
    assert proc.wait(timeout=60) == 70, log.read_text()
    said = log.read_text()
    assert "error: the ingest daemon gave up: start failed 2 times in a row:" in said
    assert str(not_a_folder) in said
