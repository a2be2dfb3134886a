"""Real servers for the tests: a moto S3 server on loopback, a scratch PostgreSQL database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import urllib3

PG_ADMIN_URL = os.environ.get("EVIDENCE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


# Runs in the child, then becomes the real program (exec keeps both settings): the kernel kills the
# child when the test process dies, however it dies; and SIGINT is ignored on request, as a shell
# does for background jobs.
_LAUNCH = """
import ctypes, os, signal, sys
prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
if prctl is not None:
    prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):
        sys.exit(1)  # the test process died before the line above
if sys.argv[2] == "ignore-sigint":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
os.execvp(sys.argv[3], sys.argv[3:])
"""


def spawn(args: list[str], *, sigint_ignored: bool = False, **popen) -> subprocess.Popen:
    """Start ``args`` in a process group of its own that dies with the test process (see ``kill_group``)."""
    launcher = [sys.executable, "-c", _LAUNCH, str(os.getpid()), "ignore-sigint" if sigint_ignored else "-"]
    return subprocess.Popen(launcher + [str(a) for a in args], start_new_session=True, **popen)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and whatever it started (server workers, ffmpeg), and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class MotoServer:
    """moto's standalone S3 server as a child process."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> MotoServer:
        self.proc = spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        http = urllib3.PoolManager()
        http.request("GET", f"http://127.0.0.1:{self.port}/", timeout=5)
        return self

    def stop(self) -> None:
        if self.proc:
            kill_group(self.proc)
            self.proc = None

    def url(self, bucket: str | None = None) -> str:
        bucket = bucket or f"ev-{uuid.uuid4().hex[:12]}"
        return f"s3://testkey:testsecret@127.0.0.1:{self.port}/{bucket}?secure=false&region=us-east-1"


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def worker_tag() -> str:
    """This run and pytest-xdist worker ("r1a2b3c_gw0", ...): names made from it collide with no other."""
    # made in the controller (tests/conftest.py pytest_configure), which the workers inherit it from
    run = os.environ.setdefault("PYTEST_EVIDENCE_RUN", f"r{uuid.uuid4().hex[:6]}")
    return f"{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def pg_databases_left() -> list[str]:
    """The databases this process made that still exist (none once every test and fixture is done)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    return [name for name in names if f"_{worker_tag()}_" in name]


def pg_url_of(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the test server."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def create_pg_database(template: str | None = None, prefix: str = "evidence_test") -> tuple[str, str]:
    """A new database, empty or a copy of ``template`` (which must have no open connections); (name, URL)."""
    import psycopg

    name = f"{prefix}_{worker_tag()}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return name, pg_url_of(name)


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class TcpForwarder:
    """A loopback port relayed to another address; stopping it cuts every connection (an outage)."""

    def __init__(self, target: tuple[str, int], port: int | None = None):
        import threading

        self.target = target
        self.port = port or free_port()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> TcpForwarder:
        import threading

        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in its thread
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._socks.clear()
