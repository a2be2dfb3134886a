"""Over real HTTP: `evidence serve` on loopback, a sign-in, a ranged proxy read and a download."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.servers import free_port, wait_port

EVIDENCE = str(Path(sys.executable).parent / "evidence")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_over_loopback(world, tmp_path, workers, processes):
    rt = world["rt"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(
        EVIDENCE_HOME=str(rt.settings.home),
        EVIDENCE_PORT=str(port),
        EVIDENCE_STATION_ID="ST01",
        EVIDENCE_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        proc = processes(
            [EVIDENCE, "serve", "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "ok", "fixity": {"items_in_alarm": 0}}
            token = http.post(
                "/api/v1/auth/token", data={"username": "rev1", "password": world["passwords"]["rev1"]}
            ).json()
            http.headers["Authorization"] = f"Bearer {token['access_token']}"
            item = world["ids"]["a"]
            part = http.get(f"/api/v1/items/{item}/proxy", headers={"Range": "bytes=100-199"})
            assert part.status_code == 206 and len(part.content) == 100
            assert part.headers["content-range"].startswith("bytes 100-199/")
            original = http.get(f"/api/v1/items/{item}/original", params={"reason": "over the wire"})
            assert hashlib.sha256(original.content).hexdigest() == original.headers["x-evidence-sha256"]
            assert http.get("/openapi.json").json()["paths"]["/api/v1/items/{item_id}/proxy"]
            assert http.get("/docs").status_code == 200
            # an upload whose client goes away mid-body leaves nothing half-written
            incoming = rt.settings.web_upload_dir / ".incoming"
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.sendall(
                    f"POST /api/v1/uploads?filename=cut.mp4 HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {token['access_token']}\r\n"
                    "Content-Length: 1000000\r\n\r\n".encode()
                    + b"x" * 5000
                )
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not (incoming.exists() and any(incoming.iterdir())):
                    time.sleep(0.05)
                assert any(incoming.iterdir()), "the upload had started"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and incoming.exists() and any(incoming.iterdir()):
                time.sleep(0.1)
            assert not incoming.exists() or not any(incoming.iterdir())
            assert not list(rt.settings.web_upload_dir.rglob("cut.mp4"))
        # whichever process a scrape reaches, it counts the requests of all of them
        for _ in range(30):
            with httpx.Client(base_url=base, timeout=10) as fresh:  # a new connection: any worker may take it
                assert fresh.get("/readyz").status_code == 200
        counts = {_requests_counted(base, "/readyz") for _ in range(6)}
        assert counts == {30}, counts
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()


def _requests_counted(base: str, route: str) -> float:
    with httpx.Client(base_url=base, timeout=10) as fresh:
        text = fresh.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("evidence_http_request_duration_seconds_count{") and f'route="{route}"' in line
    )
