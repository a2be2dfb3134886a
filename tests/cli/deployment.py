"""A multi-process deployment for the scale-out tests: stations, workers and API processes of the
`evidence` CLI sharing one database, one store and one signing key, each with a home and a log of its own.

What a real multi-station site shares, and so what every role here is given: the database URL, the
storage URL, the custody log's signing key (EVIDENCE_SIGNING_KEY_FILE, the same key on every machine,
or EVIDENCE_SIGNING_KEY; without it each station would make its own key in its home and sign
checkpoints that the others' key does not verify), the log origin and the time zone. Each station
has its own EVIDENCE_STATION_ID and upload point; each process its own home (work and staging folders).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.checkpoint import generate_key
from tests.cli.test_up import EVIDENCE

ORIGIN = "scale-out.test/custody"
# the checkout under test: its code, not whatever the virtualenv's (editable) install points at
SOURCE = Path(__file__).resolve().parents[2]


@dataclass
class Role:
    """One process of the deployment and where it logs."""

    name: str
    proc: subprocess.Popen
    log: Path
    home: Path

    @property
    def upload(self) -> Path:
        return self.home / "upload"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Deployment:
    """Starts roles with the shared environment and says what they logged when something goes wrong."""

    root: Path
    start_process: Callable[..., subprocess.Popen]  # the ``processes`` fixture: nothing outlives the test
    shared: dict[str, str]
    roles: dict[str, Role] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)  # roles the test killed: their death is no failure

    @classmethod
    def make(cls, root: Path, start_process, database_url: str, storage_url: str, **extra: str) -> Deployment:
        key_file = root / "keys" / "custody.key"
        key_file.parent.mkdir(mode=0o700, parents=True)
        key_file.write_text(generate_key(ORIGIN).encode() + "\n")
        key_file.chmod(0o600)  # refused otherwise, as ssh does
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")]))
        env.update(
            EVIDENCE_DATABASE_URL=database_url,
            EVIDENCE_STORAGE_URL=storage_url,
            EVIDENCE_SIGNING_KEY_FILE=str(key_file),
            EVIDENCE_LOG_ORIGIN=ORIGIN,
            EVIDENCE_TIMEZONE="Asia/Shanghai",
            EVIDENCE_LOG_LEVEL="INFO",
            EVIDENCE_SETTLE_SECONDS="0.2",
            EVIDENCE_RESCAN_SECONDS="1",
            EVIDENCE_CHECKPOINT_SECONDS="5",
            **extra,
        )
        return cls(root, start_process, env)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        return {**self.shared, "EVIDENCE_HOME": str(self.root / name / "home"), "EVIDENCE_STATION_ID": name, **extra}

    def start(self, name: str, *args: str, **extra: str) -> Role:
        """Run ``evidence ARGS`` as role ``name`` (its home, its station id, its log)."""
        env = self.env(name, **extra)
        log = self.root / f"{name}.log"
        with open(log, "wb") as sink:
            proc = self.start_process([EVIDENCE, *args], env=env, stdout=sink, stderr=subprocess.STDOUT)
        role = self.roles[name] = Role(name, proc, log, Path(env["EVIDENCE_HOME"]))
        return role

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """A one-off `evidence` command on the shared configuration (an operator's)."""
        return subprocess.run(
            [EVIDENCE, *args], env=self.env("operator"), capture_output=True, text=True, timeout=timeout
        )

    def wait_said(self, role: Role, text: str, timeout: float = 60) -> None:
        self.wait_until(lambda: text in role.text(), f"{role.name} to say {text!r}", timeout)

    def kill(self, role: Role) -> None:
        """SIGKILL ``role``'s whole process group, as the OOM killer or ``kill -9`` would end it."""
        self.killed.add(role.name)
        os.killpg(role.proc.pid, signal.SIGKILL)
        role.proc.wait()

    def assert_alive(self) -> None:
        """Every role not killed on purpose still runs."""
        dead = [
            f"{r.name} exited {r.proc.returncode}"
            for r in self.roles.values()
            if r.name not in self.killed and r.proc.poll() is not None
        ]
        assert not dead, f"{', '.join(dead)}\n{self.logs()}"

    def wait_until(self, predicate: Callable[[], Any], what: str, timeout: float, state=None) -> Any:
        """Poll ``predicate`` until it is true; fail naming ``what``, the state and the role logs when it is
        not within ``timeout`` or when a role has died."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            self.assert_alive()
            if time.monotonic() > deadline:
                now = f"\nstate: {state()}" if state else ""
                raise AssertionError(f"waited {timeout:g}s for {what}{now}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, lines: int = 40) -> str:
        """The tail of every role's log, for a failure message."""
        parts = []
        for role in self.roles.values():
            tail = role.text().splitlines()[-lines:]
            parts.append(f"----- {role.name} (pid {role.proc.pid}, exit {role.proc.poll()}) -----\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self, role: Role, timeout: float = 60) -> int:
        """SIGTERM, as an operator stops a role; its exit code."""
        role.proc.send_signal(signal.SIGTERM)
        try:
            return role.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{role.name} did not stop within {timeout}s\n{self.logs()}") from None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def variant(base: bytes, n: int) -> bytes:
    """``base`` with a tail of its own: still a playable MP4 (players ignore trailing bytes), its own SHA-256."""
    return base + b"\0scale-out variant " + n.to_bytes(4, "big") + os.urandom(8)


def place(upload: Path, rel: str, data: bytes) -> Path:
    """Put a file into an upload point whole (written aside, then renamed in), as docking software does."""
    dst = upload / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")  # hidden: ignored by the stations until renamed
    tmp.write_bytes(data)
    tmp.rename(dst)
    return dst
