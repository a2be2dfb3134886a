"""The ``evidence`` command run as a user runs it: a subprocess on a home of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EVIDENCE = str(Path(sys.executable).parent / "evidence")


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_HOME=str(tmp_path / "home"), EVIDENCE_STATION_ID="ST01", EVIDENCE_LOG_LEVEL="WARNING")

    def run(*args, ok=True, extra_env=None):
        proc = subprocess.run(
            [EVIDENCE, *args], env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=300
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    run.home = tmp_path / "home"
    return run
