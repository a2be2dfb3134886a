"""Latency and streaming throughput of the review API over real HTTP on loopback.

Run from the project root::

    .venv/bin/python bench/api.py [--clients 50] [--seconds 10] [--mb 500] [--range-mib 8] [--reps 3]
                                  [--paced-rate 2] [--info-seconds 4] [--warmup 2] [--workers N]
                                  [--client auto|wrk|python] [--out DIR] [--keep]

The embedded default (SQLite + folder store in a temporary home) is built the way
tests/api/test_items.py builds its world: device assignments for two units, reviewers of
both units, real clips ingested with ``ingest.pipeline.ingest_file`` and proxied with
``ingest.worker.drain``. The API (``api.app.create_app``) is served by uvicorn on
127.0.0.1, on a free port, in separate processes, as ``evidence serve`` serves it: by
default one worker process per CPU (at most 8), each with the default settings (2 request
threads). The clients share the machine's CPUs with the server.

1. **Item metadata**: ``--clients`` closed-loop clients (keep-alive, no think time), each
   with its own bearer token (one sign-in per client through ``POST /api/v1/auth/token``, as a
   reviewer of the item's unit), GET ``/api/v1/items/{id}``: ``--warmup`` s untimed, then
   ``--seconds`` s timed; p50/p95/p99 (send to last body byte) and requests/s. The clients are
   wrk's connections when wrk is on PATH (``apt install wrk``; C, so it leaves the CPUs to the
   server), else threads of this process with ``http.client`` (``--client python``); any
   non-2xx answer fails the run, and every client's first answer is checked for the right item.
   Each request checks the token and reads the item with its access ties, marks and cases in
   one read transaction; no custody event is written.
   For information: the same clients each sending 2 requests/s instead of back to back
   (``--paced-rate``, Python threads; latency counted from when a request was due), the
   closed-loop load on ``/healthz`` (no token, no database) and on ``/api/v1/me`` (token only),
   and one client alone on the item. The server's CPU seconds come from /proc/PID/stat.
2. **Proxy streaming**: a real ~``--mb`` MB H.264+AAC 1080p MP4 (a 60 s testsrc2 clip at
   13.5 Mbit/s joined with ffmpeg's concat demuxer, ``-c copy``) is ingested and remuxed into
   its proxy by the worker. Then, alternating, for ``--reps`` repetitions:
   - direct: the store's own ``iter_chunks(proxy_key)`` (folder, or S3 with ``--store s3``), the read
     the API itself streams from, here in the bench process;
   - direct ranged: the same, in the ranged API's ``--range-mib`` MiB ranges (one
     ``iter_chunks(key, first, length)`` each: a ranged GET on S3);
   - API ranged: GET ``/api/v1/items/{id}/proxy`` in sequential ``--range-mib`` MiB ranges on one
     keep-alive connection (as a player does);
   - API whole: one GET of the whole proxy;
   - (info) bare loopback: the same file sent with ``os.sendfile`` over a plain TCP socket on
     127.0.0.1 (no HTTP, no Python copying on the sending side) into ``recv_into`` of a 1 MiB
     buffer: loopback TCP with no HTTP (noisy on this VM: not always faster than the API).
   The client reads into a reused 1 MiB buffer (``readinto``) and checks byte counts and
   ``Content-Range``; an untimed first pass also checks the SHA-256 of what the API sends.
   Throughput in MB/s (10^6 B); ratios: API ranged / direct ranged, API whole / direct.
   ``--store s3`` puts the objects on moto's S3 server on loopback instead (production's shape:
   the API in front of an S3 server; moto, in Python, is far slower than MinIO or AWS).

This is a benchmark, not a test: it prints a table and exits 1 if a target is missed (0 otherwise).
This file holds the scenarios (the world, what is requested, the targets); the load generator
(server process, clients, timing, percentiles, the table) is ``bench/load.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as ``python bench/api.py``: Python puts bench/ first on sys.path, where this very file
# would shadow the ``api`` package (and bench/ingest.py the ``ingest`` one). Use the project root.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    MB,
    MIB,
    Server,
    Table,
    Target,
    api_ranged,
    api_whole,
    describe,
    direct,
    latencies,
    load_run,
    loopback_floor,
    machine,
    wrk_run,
)
from bench.machine import begin, busy_cpu_s, log, own_cpu_s, settle  # noqa: E402
from storage_config.settings import Settings, load_settings  # noqa: E402

H264_EXTRA = ["-b:v", "13.5M", "-maxrate", "13.5M", "-bufsize", "27M"]  # as bench/ingest.py
CLIP_SECONDS = 60
UNITS = {"U1": ("ZFY0001", "110001"), "U2": ("ZFY0002", "220002")}
REVIEWERS_PER_UNIT = 5
P95_TARGET_MS = 20.0
RATIO_TARGET = 0.8


def bench_settings(home: Path) -> Settings:
    """The embedded default (SQLite + folder store under ``home``); the server process uses the same."""
    return load_settings(home=home, station_id="bench", source_policy="keep", timezone="Asia/Shanghai")


# ---------------------------------------------------------------------------- the server


def serve(home: Path, port: int, workers: int = 1) -> None:
    """What ``evidence serve [--workers N]`` runs (cli.serving.serve), on the bench's home and port."""
    import uvicorn

    from api.app import create_app

    if workers > 1:
        os.environ.update(
            EVIDENCE_HOME=str(home),
            EVIDENCE_STATION_ID="bench",
            EVIDENCE_SOURCE_POLICY="keep",
            EVIDENCE_TIMEZONE="Asia/Shanghai",
        )
        uvicorn.run(
            "api.app:worker_app", factory=True, host="127.0.0.1", port=port, workers=workers, log_level="warning"
        )
        return
    config = uvicorn.Config(
        create_app(bench_settings(home), None, migrate_db=True), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    server.run()


# ---------------------------------------------------------------------------- the world


def make_big_clip(work: Path, mb: float, upload: Path) -> Path:
    """A real ~``mb`` MB remuxable MP4: one 60 s 1080p30 H.264+AAC clip, joined to itself with ``-c copy``."""
    from ingest.samples import make_clip
    from ingest.tools import run_tool

    t0 = time.perf_counter()
    base = make_clip(
        work / "clips" / "base-60s.mp4",
        codec="h264",
        seconds=CLIP_SECONDS,
        size="1920x1080",
        fps=30,
        extra=H264_EXTRA,
        creation_time=datetime(2026, 11, 1, 8, 0, 0, tzinfo=UTC),
    )
    copies = max(1, math.ceil(mb * MB / base.stat().st_size))
    listing = work / "clips" / "concat.txt"
    listing.write_text("".join(f"file '{base}'\n" for _ in range(copies)))
    dst = upload / UNITS["U1"][0] / f"{UNITS['U1'][0]}_20261101_160000.mp4"
    dst.parent.mkdir(parents=True, exist_ok=True)
    run_tool(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-map",
            "0",
            "-c",
            "copy",
            str(dst),
        ],
        timeout=600,
    )
    base.unlink()
    log(
        f"  made {dst.name}: {copies} x {CLIP_SECONDS} s 1080p30 H.264+AAC, {dst.stat().st_size / MB:.0f} MB "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    return dst


def build_world(work: Path, mb: float) -> dict:
    """Devices, reviewers of two units, the big clip (unit U1) and a small one (unit U2), ingested and proxied."""
    from evidence import devices, users
    from evidence.models import Item
    from evidence.unit_of_work import transaction
    from ingest import worker
    from ingest.pipeline import ingest_file
    from ingest.runtime import open_runtime
    from ingest.samples import make_clip

    home = work / "home"
    settings = bench_settings(home)
    point = settings.points[0]
    point.path.mkdir(parents=True, exist_ok=True)
    big = make_big_clip(work, mb, point.path)
    small = make_clip(
        point.path / UNITS["U2"][0] / f"{UNITS['U2'][0]}_20261101_161500.mp4", seconds=5, size="1280x720", fps=30
    )
    rt = open_runtime(settings, "bench")
    passwords: dict[str, tuple[str, str]] = {}  # name -> (unit, password)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(rt.sessions) as session:
        for unit, (serial, officer) in UNITS.items():
            devices.assign(session, serial, officer, since, unit)
            users.add_user(session, f"off-{unit}", ["officer"], unit, officer)
            for i in range(REVIEWERS_PER_UNIT):
                user, password = users.add_user(session, f"rev{i}-{unit}", ["reviewer"], unit)
                user.must_change_password = False  # as if chosen by its owner: a one-time one opens no route
                passwords[f"rev{i}-{unit}"] = (unit, password)
    ids = {}
    for unit, path in (("U1", big), ("U2", small)):
        t0 = time.perf_counter()
        result = ingest_file(rt, point, path)
        t1 = time.perf_counter()
        worker.drain(rt, item_ids=[result.item_id])
        t2 = time.perf_counter()
        if result.outcome != "new":
            raise SystemExit(f"ingest of {path} gave {result.as_dict()}")
        with transaction(rt.sessions) as session:
            item = session.get(Item, result.item_id)
            if item.proxy_key is None or item.unit != unit or item.proxy_method != "remux":
                raise SystemExit(
                    f"item {item.id}: proxy {item.proxy_key} by {item.proxy_method}, unit {item.unit}, "
                    f"status {item.status} ({item.error}); expected a remuxed proxy in unit {unit}"
                )
            ids[unit] = item.id
            if unit == "U1":
                proxy_key, proxy_size = item.proxy_key, rt.store.size(item.proxy_key)
        log(
            f"  ingested {path.name} as item {result.item_id} (unit {unit}) in {t1 - t0:.1f}s; "
            f"probe + proxy (remux) + poster {t2 - t1:.1f}s"
        )
        path.unlink()  # source policy "keep": the upload point still has it; the store has its copy
    return {
        "rt": rt,
        "home": home,
        "ids": ids,
        "passwords": passwords,
        "proxy_key": proxy_key,
        "proxy_size": proxy_size,
    }


def sign_in(port: int, username: str, password: str) -> str:
    """A bearer token for ``username`` from ``POST /api/v1/auth/token``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = f"username={username}&password={password}"
    conn.request("POST", "/api/v1/auth/token", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 200:
        raise SystemExit(f"sign-in of {username} gave {r.status}: {data[:300]!r}")
    return json.loads(data)["access_token"]


def media_views(rt, item_id: int) -> int:
    """How many ``media_viewed`` custody events the item has."""
    from sqlalchemy import func, select

    from evidence.models import CustodyEvent
    from evidence.unit_of_work import transaction

    with transaction(rt.sessions) as session:
        return session.scalar(
            select(func.count())
            .select_from(CustodyEvent)
            .where(CustodyEvent.item_id == item_id, CustodyEvent.kind == "media_viewed")
        )


# ---------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent metadata clients (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds of the main load (default 10)")
    parser.add_argument("--info-seconds", type=float, default=4.0, help="timed seconds of each info load (default 4)")
    parser.add_argument(
        "--paced-rate", type=float, default=2.0, help="requests/s of each client in the paced info run (default 2)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds before each load (default 2)")
    parser.add_argument("--mb", type=float, default=500.0, help="size of the streamed clip, MB (default 500)")
    parser.add_argument("--range-mib", type=int, default=8, help="range size of the ranged reads, MiB (default 8)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the streaming sides (default 3)")
    parser.add_argument("--out", type=Path, help="folder for working files (default: system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the working files")
    parser.add_argument(
        "--store",
        choices=("file", "s3"),
        default="file",
        help="object store: the embedded default's folder (default), or S3 on moto's server "
        "started on loopback (the production shape: the API in front of an S3 server)",
    )
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="closed-loop load generator: wrk (C; `apt install wrk`) or Python threads; auto: wrk when on PATH",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(os.cpu_count() or 1, 8),
        help="server processes, as `evidence serve --workers` (default as there: one per CPU, at most 8)",
    )
    args = parser.parse_args()
    if (
        args.clients < 1
        or args.seconds <= 0
        or args.info_seconds <= 0
        or args.paced_rate <= 0
        or args.mb <= 0
        or args.range_mib < 1
        or args.reps < 1
        or args.warmup < 0
    ):
        parser.error(
            "--clients, --seconds, --info-seconds, --paced-rate, --mb, --range-mib and --reps must be "
            "positive, --warmup >= 0"
        )
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    started = time.perf_counter()
    work, load_before = begin(
        parser,
        ("ffmpeg", "ffprobe") + (("wrk",) if args.client == "wrk" else ()),
        args.out,
        "evidence-bench-api-",
        machine(),
    )
    world = server = moto = None
    try:
        if args.store == "s3":
            from tests.servers import MotoServer

            moto = MotoServer().start()
            os.environ["EVIDENCE_STORAGE_URL"] = moto.url()  # read by load_settings, here and in the server
            log(f"S3: moto's standalone server on 127.0.0.1:{moto.port}")
        log(f"building the world (SQLite + {'folder store' if args.store == 'file' else 'S3 store'})")
        world = build_world(work, args.mb)
        rt, ids = world["rt"], world["ids"]
        settle()
        home = world["home"]
        server = Server(
            lambda port: [str(Path(__file__).resolve()), "--serve", str(home), str(port), str(args.workers)],
            work / "server.log",
            ROOT,
        )
        log(f"API: uvicorn on http://127.0.0.1:{server.port} (pid {server.proc.pid})")
        t0 = time.perf_counter()
        names = list(world["passwords"])
        tokens = []  # (unit, token), one sign-in per client
        for i in range(args.clients):
            name = names[i % len(names)]
            unit, password = world["passwords"][name]
            tokens.append((unit, sign_in(server.port, name, password)))
        log(f"  {len(tokens)} sign-ins (scrypt) in {time.perf_counter() - t0:.1f}s")

        def targets(path_of) -> list[Target]:
            return [(path_of(unit)[0], {"Authorization": f"Bearer {tok}"}, path_of(unit)[1]) for unit, tok in tokens]

        def closed_loop(load: list[Target], seconds: float, warmup: float = args.warmup) -> dict:
            if args.client == "python":
                return load_run(server, load, warmup, seconds)
            return wrk_run(
                server,
                [(p, h.get("Authorization", "").removeprefix("Bearer ")) for p, h, _ in load],
                len(load),
                warmup,
                seconds,
                work,
            )

        item_targets = targets(lambda u: (f"/api/v1/items/{ids[u]}", ids[u]))
        load_run(server, item_targets, 0, 0.2)  # every client's token and item answer, with the right id
        log(
            f"1. GET /api/v1/items/{{id}} from {args.clients} clients on loopback "
            f"({args.warmup:.0f} s warm-up, {args.seconds:.0f} s timed; closed-loop client: {args.client})"
        )
        meta = closed_loop(item_targets, args.seconds)
        log(describe(f"items/{{id}}, {args.clients} clients", meta))
        paced = load_run(server, item_targets, args.warmup, args.info_seconds, interval=1 / args.paced_rate)
        log(describe(f"items/{{id}}, {args.clients} clients at {args.paced_rate:g} req/s each (info)", paced))
        health = closed_loop([("/healthz", {}, None)] * args.clients, args.info_seconds)
        log(describe(f"/healthz, {args.clients} clients (info)", health))
        me = closed_loop(targets(lambda u: ("/api/v1/me", None)), args.info_seconds)
        log(describe(f"/api/v1/me, {args.clients} clients (info)", me))
        single = closed_loop(item_targets[:1], args.info_seconds, 1.0)
        log(describe("items/{id}, 1 client (info)", single))

        key, size = world["proxy_key"], world["proxy_size"]
        item, token = ids["U1"], next(tok for unit, tok in tokens if unit == "U1")
        path = f"/api/v1/items/{item}/proxy"
        span = args.range_mib * MIB
        buf = memoryview(bytearray(MIB))
        log(
            f"2. streaming the {size / MB:.0f} MB proxy of item {item}: direct iter_chunks vs API "
            f"({args.range_mib} MiB ranges, whole GET) vs bare loopback sendfile (info), alternating"
        )
        with rt.store.local_path(key) as object_path:
            sha_direct = hashlib.sha256()
            for chunk in rt.store.iter_chunks(key):
                sha_direct.update(chunk)
            sha_api = hashlib.sha256()
            api_ranged(server.port, path, token, size, span, buf, sha_api)  # untimed: content check, warm-up
            if sha_api.hexdigest() != sha_direct.hexdigest():
                raise SystemExit("the API's ranged bytes differ from the stored proxy")
            api_whole(server.port, path, token, size, buf)
            loopback_floor(object_path, size, buf)
            views = media_views(rt, item)
            sides: dict[str, list[float]] = {"direct": [], "direct ranged": [], "ranged": [], "whole": [], "floor": []}
            other = []
            for rep in range(args.reps):
                cpu0, own0, busy0 = server.cpu_s(), own_cpu_s(), busy_cpu_s()
                sides["direct"].append(direct(rt.store, key, size))
                sides["direct ranged"].append(direct(rt.store, key, size, span))
                sides["ranged"].append(api_ranged(server.port, path, token, size, span, buf))
                cpu1 = server.cpu_s()
                sides["whole"].append(api_whole(server.port, path, token, size, buf))
                cpu2 = server.cpu_s()
                sides["floor"].append(loopback_floor(object_path, size, buf))
                other.append(max(0.0, (busy_cpu_s() - busy0) - (server.cpu_s() - cpu0) - (own_cpu_s() - own0)))
                log(
                    f"  rep {rep + 1}: "
                    + ", ".join(f"{k} {size / MB / v[-1]:.0f} MB/s" for k, v in sides.items())
                    + f"; server CPU ranged {cpu1 - cpu0:.2f}s, whole {cpu2 - cpu1:.2f}s; "
                    f"other processes {other[-1]:.2f}s CPU"
                )
            added = media_views(rt, item) - views
            if added != 2 * args.reps:
                raise SystemExit(f"{added} media_viewed events for {2 * args.reps} viewings (one per viewing)")
    finally:
        if server is not None:
            server.stop()
        if moto is not None:
            moto.stop()
        if world is not None:
            world["rt"].close()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    table = Table()
    table.row(
        f"GET items/{{id}}, {args.clients} clients",
        latencies(meta),
        f"{meta['rps']:.0f} req/s",
        f"p95 {meta['p95']:.1f} ms",
        f"p95 <= {P95_TARGET_MS:.0f} ms",
        meta["p95"] <= P95_TARGET_MS,
    )
    table.info(
        f"  same, each client {args.paced_rate:g} req/s, not closed loop (info)",
        latencies(paced),
        f"{paced['rps']:.0f} req/s",
    )
    table.info(f"  /healthz, {args.clients} clients (info)", latencies(health), f"{health['rps']:.0f} req/s")
    table.info(f"  /api/v1/me, {args.clients} clients (info)", latencies(me), f"{me['rps']:.0f} req/s")
    table.info("  items/{id}, 1 client (info)", latencies(single), f"{single['rps']:.0f} req/s")
    table.info(
        "  server CPU per items/{id} request (info)",
        f"{meta['server_ms_per_req']:.2f} ms",
        f"{meta['server_cpu']:.2f} cores busy",
    )

    mbps_direct = size / MB / statistics.median(sides["direct"])
    for side, base, label in (
        ("ranged", "direct ranged", f"proxy {size / MB:.0f} MB, API {args.range_mib} MiB ranges"),
        ("whole", "direct", f"proxy {size / MB:.0f} MB, API whole GET"),
    ):
        mbps = size / MB / statistics.median(sides[side])
        mbps_base = size / MB / statistics.median(sides[base])
        ratio = mbps / mbps_base
        table.row(
            label,
            f"{mbps:.0f} MB/s",
            f"{base} {mbps_base:.0f} MB/s",
            f"ratio {ratio:.2f}",
            f">= {RATIO_TARGET:.2f}",
            ratio >= RATIO_TARGET,
        )
    n_ranges = math.ceil(size / span)
    per_range = (statistics.median(sides["ranged"]) - statistics.median(sides["whole"])) / n_ranges * 1e3
    table.info(
        f"  cost per range request, {n_ranges} ranges (info)", f"{per_range:.1f} ms", "(ranged - whole) / ranges"
    )
    floor = size / MB / statistics.median(sides["floor"])
    table.info(
        "  bare loopback sendfile, no HTTP (info)",
        f"{floor:.0f} MB/s",
        f"direct {mbps_direct:.0f} MB/s",
        f"ratio {floor / mbps_direct:.2f}",
    )
    table.info(
        "  API vs bare loopback (info)",
        f"ranged {size / MB / statistics.median(sides['ranged']) / floor:.2f}",
        f"whole {size / MB / statistics.median(sides['whole']) / floor:.2f}",
    )

    load_after = os.getloadavg()
    log("")
    log(f"load average 1 min: {load_before:.2f} before, {load_after[0]:.2f} after (the bench itself adds ~2)")
    worst = max([r["other_cpu"] for r in (meta, paced, health, me, single)])
    log(
        f"CPU used by other processes: at most {worst:.2f} cores during a load run, {max(other):.2f}s during a "
        "streaming rep"
        + (
            "  -- WARNING: the machine was shared; rerun when idle for clean numbers"
            if worst > 0.2 or max(other) > 0.5
            else ""
        )
    )
    log(
        f"results: latencies over the timed window, streaming medians of {args.reps} runs, MB = 10^6 B, "
        f"proxy in page cache, total {time.perf_counter() - started:.0f}s"
    )
    return table.print()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
