"""Real servers for the tests: a moto S3 server on loopback, a scratch PostgreSQL database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import urllib3

PG_ADMIN_URL = os.environ.get("EVIDENCE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


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

    def start(self) -> "MotoServer":
        self.proc = subprocess.Popen(
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
            self.proc.kill()
            self.proc.wait()
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


def create_pg_database() -> tuple[str, str]:
    """A new empty database; returns (name, SQLAlchemy URL)."""
    import psycopg

    name = f"evidence_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
