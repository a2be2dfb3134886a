"""The load generator of ``bench/api.py``: the API in a child process, closed-loop and paced HTTP
clients (Python threads or wrk), streaming readers, percentiles and the rows of the results table.

It knows nothing of items or users: ``bench/api.py`` says what is requested and builds the world.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from bench.machine import busy_cpu_s, cpu_model, own_cpu_s, print_results

MB = 1_000_000
MIB = 1 << 20

# One client's work: (path, request headers, the item id its first answer must carry, or None)
Target = tuple[str, dict[str, str], int | None]


# ---------------------------------------------------------------------------- server process


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The API in a child process (its own interpreter and GIL), on loopback.

    ``command(port)`` is the child's argument list after the interpreter; it must serve ``/healthz``.
    """

    def __init__(self, command: Callable[[int], list[str]], logfile: Path, cwd: Path):
        self.port = free_port()
        self.logfile = logfile
        with open(logfile, "wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, *command(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=cwd,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the API server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the API server did not come up in 30 s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self) -> str:
        return self.logfile.read_text(errors="replace")[-3000:]

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process and its worker processes so far."""
        total, pending = 0, [self.proc.pid]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- closed-loop and paced load


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def load_run(
    server: Server,
    targets: list[Target],
    warmup: float,
    seconds: float,
    interval: float | None = None,
) -> dict:
    """One client thread per target (path, headers, expected item id); latencies of the timed window.

    Closed loop (the next request as soon as the last answer is in) unless ``interval``: then each
    client sends one request every ``interval`` s (random phase), and a request's latency counts
    from when it was due, so a late send is not hidden (no coordinated omission).
    """
    start = threading.Barrier(len(targets) + 1)
    times: dict[str, float] = {}
    results: list[list[float]] = [[] for _ in targets]
    errors: list[str] = []

    def client(i: int, path: str, headers: dict[str, str], expect_id: int | None) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lat = results[i]
        checked = False
        start.wait()
        t_from, t_end = times["from"], times["end"]
        due = time.perf_counter() + (random.uniform(0, interval) if interval else 0.0)
        try:
            while True:
                if interval:
                    time.sleep(max(0.0, due - time.perf_counter()))
                    t0, due = due, due + interval
                else:
                    t0 = time.perf_counter()
                if t0 >= t_end:
                    break
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                body = r.read()
                t1 = time.perf_counter()
                if r.status != 200:
                    errors.append(f"{path}: {r.status} {body[:200]!r}")
                    return
                if not checked:
                    if expect_id is not None and json.loads(body)["id"] != expect_id:
                        errors.append(f"{path}: wrong item in {body[:200]!r}")
                        return
                    checked = True
                if t0 >= t_from:
                    lat.append(t1 - t0)
        except Exception as exc:  # noqa: BLE001 -- reported by the main thread
            errors.append(f"{path}: {exc!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i, *t), daemon=True) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    now = time.perf_counter()
    times["from"], times["end"] = now + warmup, now + warmup + seconds
    start.wait()
    time.sleep(max(0.0, times["from"] - time.perf_counter()))
    cpu0, own0, busy0 = server.cpu_s(), own_cpu_s(), busy_cpu_s()
    time.sleep(max(0.0, times["end"] - time.perf_counter()))
    cpu1, own1, busy1 = server.cpu_s(), own_cpu_s(), busy_cpu_s()
    for t in threads:
        t.join(60)
    if errors:
        raise SystemExit(f"{len(errors)} failed request(s), first: {errors[0]}\nserver log:\n{server.tail()}")
    lat = sorted(x for r in results for x in r)
    n = len(lat)
    return {
        "n": n,
        "rps": n / seconds,
        "p50": percentile(lat, 50) * 1e3,
        "p95": percentile(lat, 95) * 1e3,
        "p99": percentile(lat, 99) * 1e3,
        "max": lat[-1] * 1e3,
        "server_cpu": (cpu1 - cpu0) / seconds,
        "client_cpu": (own1 - own0) / seconds,
        "server_ms_per_req": (cpu1 - cpu0) / n * 1e3,
        "other_cpu": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - (own1 - own0)) / seconds,
    }


WRK_SCRIPT = """
local targets = {%s}
local i = 0
request = function()
  i = i + 1
  local t = targets[(i %% #targets) + 1]
  if t[2] == "" then return wrk.format("GET", t[1]) end
  return wrk.format("GET", t[1], {["Authorization"] = "Bearer " .. t[2]})
end
done = function(summary, latency, requests)
  io.write(string.format('{"n": %%d, "errors": %%d, "p50": %%f, "p95": %%f, "p99": %%f, "max": %%f}\\n',
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
"""


def wrk_run(
    server: Server, targets: list[tuple[str, str]], clients: int, warmup: float, seconds: float, work: Path
) -> dict:
    """A closed-loop load from wrk: ``clients`` keep-alive connections on two threads, each request the
    next of ``targets`` (path, bearer token or "") round robin; any non-2xx answer fails the run.

    wrk counts a request's latency from its send to its last byte, as load_run does; it takes far
    less CPU per request than Python clients, which share the two CPUs with the server.
    """
    script = work / "wrk.lua"
    script.write_text(WRK_SCRIPT % ", ".join(f'{{"{path}", "{token}"}}' for path, token in targets))
    url = f"http://127.0.0.1:{server.port}{targets[0][0]}"

    def run(duration: float) -> tuple[str, float]:
        before = os.times()
        command = [
            "wrk",
            f"-t{min(2, clients)}",
            f"-c{clients}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
        after = os.times()
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return done.stdout, (
            after.children_user + after.children_system - before.children_user - before.children_system
        )

    if warmup > 0:
        run(warmup)
    cpu0, busy0 = server.cpu_s(), busy_cpu_s()
    t0 = time.perf_counter()
    out, client_cpu = run(seconds)
    elapsed = time.perf_counter() - t0
    cpu1, busy1 = server.cpu_s(), busy_cpu_s()
    r = json.loads(out.strip().splitlines()[-1])
    if r["errors"]:
        raise SystemExit(f"wrk: {r['errors']} failed request(s) of {r['n']}\n{out}\nserver log:\n{server.tail()}")
    n = r["n"]
    return {
        "n": n,
        "rps": n / seconds,
        "p50": r["p50"] / 1e3,
        "p95": r["p95"] / 1e3,
        "p99": r["p99"] / 1e3,
        "max": r["max"] / 1e3,
        "server_cpu": (cpu1 - cpu0) / elapsed,
        "client_cpu": client_cpu / elapsed,
        "server_ms_per_req": (cpu1 - cpu0) / n * 1e3,
        "other_cpu": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - client_cpu) / elapsed,
    }


def describe(name: str, r: dict) -> str:
    """One log line of a load run's result."""
    return (
        f"  {name}: {r['n']} requests, {r['rps']:.0f} req/s, p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
        f"p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms; server CPU {r['server_cpu']:.2f} cores "
        f"({r['server_ms_per_req']:.2f} ms/request), client CPU {r['client_cpu']:.2f} cores, "
        f"other processes {r['other_cpu']:.2f} cores"
    )


# ---------------------------------------------------------------------------- streaming


def read_body(resp: http.client.HTTPResponse, buf: memoryview, length: int) -> int:
    """Read up to ``length`` body bytes into the reused ``buf``; the count read."""
    got = 0
    while got < length:
        n = resp.readinto(buf[: min(len(buf), length - got)])
        if not n:
            break
        got += n
    return got


def api_ranged(
    port: int, path: str, token: str, size: int, span: int, buf: memoryview, sha: hashlib._Hash | None = None
) -> float:
    """Seconds to GET ``path`` in sequential ``span``-byte ranges on one keep-alive connection, checked."""
    headers = {"Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    total = 0
    for first in range(0, size, span):
        last = min(first + span, size) - 1
        conn.request("GET", path, headers={**headers, "Range": f"bytes={first}-{last}"})
        r = conn.getresponse()
        if r.status != 206 or r.getheader("Content-Range") != f"bytes {first}-{last}/{size}":
            raise SystemExit(f"range {first}-{last}: {r.status} {r.getheader('Content-Range')} {r.read(300)!r}")
        want = last - first + 1
        if sha is None:
            got = read_body(r, buf, want)
        else:
            data = r.read()
            sha.update(data)
            got = len(data)
        if got != want:
            raise SystemExit(f"range {first}-{last}: got {got} bytes, expected {want}")
        total += got
    elapsed = time.perf_counter() - t0
    conn.close()
    assert total == size
    return elapsed


def api_whole(port: int, path: str, token: str, size: int, buf: memoryview) -> float:
    """Seconds to GET the whole of ``path`` (``size`` bytes), checked."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    if r.status != 200 or r.getheader("Content-Length") != str(size):
        raise SystemExit(f"whole GET: {r.status} length {r.getheader('Content-Length')}: {r.read(300)!r}")
    got = read_body(r, buf, size)
    elapsed = time.perf_counter() - t0
    conn.close()
    if got != size:
        raise SystemExit(f"whole GET: got {got} bytes, expected {size}")
    return elapsed


class ChunkSource(Protocol):
    """What ``direct`` reads from: the object store's ranged chunk iterator."""

    def iter_chunks(self, key: str, first: int = 0, length: int | None = None) -> Iterator[bytes]: ...


def direct(store: ChunkSource, key: str, size: int, span: int | None = None) -> float:
    """The object read straight from the store: whole, or in ``span``-byte ranges (as the ranged API reads)."""
    t0 = time.perf_counter()
    total = 0
    spans = [(first, min(span, size - first)) for first in range(0, size, span)] if span else [(0, None)]
    for first, length in spans:
        for chunk in store.iter_chunks(key, first, length):
            total += len(chunk)
    elapsed = time.perf_counter() - t0
    if total != size:
        raise SystemExit(f"direct read: {total} bytes, expected {size}")
    return elapsed


def loopback_floor(path: Path, size: int, buf: memoryview) -> float:
    """The file sent with os.sendfile over plain TCP on 127.0.0.1 (a thread here), received with recv_into."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def send() -> None:
        conn, _ = listener.accept()
        with conn, open(path, "rb") as f:
            conn.recv(16)
            offset = 0
            while offset < size:
                offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        t0 = time.perf_counter()
        sock.sendall(b"go")
        got = 0
        while got < size:
            n = sock.recv_into(buf)
            if not n:
                break
            got += n
        elapsed = time.perf_counter() - t0
    sender.join()
    listener.close()
    if got != size:
        raise SystemExit(f"loopback floor: got {got} bytes, expected {size}")
    return elapsed


# ---------------------------------------------------------------------------- report


def machine() -> str:
    """The machine and the HTTP stack the server runs on, for the log's first line."""
    import uvicorn

    cpu = cpu_model()
    extras = [m for m in ("httptools", "uvloop") if importlib.util.find_spec(m)]
    return (
        f"{os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}; uvicorn {uvicorn.__version__} "
        f"({', '.join(extras) if extras else 'h11 + asyncio: no httptools, no uvloop'}); {platform.platform()}"
    )


def latencies(r: dict) -> str:
    """A load run's percentiles as a table cell."""
    return f"p50 {r['p50']:.1f} / p95 {r['p95']:.1f} / p99 {r['p99']:.1f} ms"


class Table:
    """The results table: one row per measurement, its target met or missed (``ok``) or information only."""

    HEADERS = ("measurement", "ours (median)", "baseline (median)", "ratio", "target", "result")

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def row(self, name: str, ours: str, base: str, ratio: str, target: str, ok: bool | None) -> None:
        self.rows.append((name, ours, base, ratio, target, "" if ok is None else ("PASS" if ok else "FAIL")))

    def info(self, name: str, ours: str, base: str, ratio: str = "-") -> None:
        self.row(name, ours, base, ratio, "-", None)

    def print(self) -> int:
        """Print the table; the exit code: 1 if a target was missed."""
        return print_results(list(self.HEADERS), [list(r) for r in self.rows])
