"""Scale-out benchmark: more worker processes, a burst of files at one station, 1 GB through a station.

Run from the project root::

    .venv/bin/python bench/scale.py            # full run, about 7 minutes
    .venv/bin/python bench/scale.py --quick    # a smaller run of every part, about 1.5 minutes
    # --parts 1,2,3 --jobs N --clip-seconds S --burst N --gb G --reps R --settle S --out DIR --keep

Every part uses PostgreSQL (a scratch database per run, dropped at the end) when it answers at
``EVIDENCE_TEST_PG`` (default postgresql://root@127.0.0.1:5432/test), else SQLite; the output says
which. The store is the folder store, on the same disk as the inputs.

1. **Proxy jobs, 1 vs 2 worker processes.** N distinct real H.265 1080p30 clips are ingested and
   probed in this process, so N proxy jobs (transcode to 720p H.264, plus the poster frame) wait,
   held back (``run_after`` in the future). Then 1 or 2 ``evidence worker --concurrency 1 --kinds
   proxy`` processes (the real CLI, subprocesses) start against that database and store, and once
   both are up the jobs are let go. Time: from the first claim to the last job's completion
   (the jobs' own ``heartbeat_at`` at claim and ``finished_at``; the lease is long, so no renewal
   rewrites the first). Measured with ``EVIDENCE_TRANSCODE_THREADS=0`` (ffmpeg's own choice) and
   ``=1`` (one thread per transcode); the target is on the latter.
2. **A burst at one station.** N small distinct clips (one real 2 s clip + random bytes) are made
   beside the upload point and renamed into it at once (20 recorder folders) while a station runs
   (``ingest.daemon.Daemon(jobs=False, maintenance=False)`` in a thread of this process,
   ``settle_seconds`` small, source policy "move"). Arrival: when the file was renamed in; stored:
   when its ``verified`` custody event was recorded (``recorded_at``, the commit). Files/s from the
   first arrival to the last stored; p50/p95/max arrival-to-stored. Baseline in the same run: the
   same with ``ingest_concurrency=1``.
3. **1 GB in 10 files through a station** against ``openssl dgst -sha256 FILES`` then ``cp FILES DIR``
   (timed together, bench/ingest.py's baseline), alternating, medians, inputs in a warm page cache,
   the machine settled before every timed run (bench/machine.py). Ours: from the first file renamed
   into the upload point of a running station (``settle_seconds=0``) to the last ``verified`` event
   recorded. For information: the station with ``ingest_concurrency=1``, and ``openssl dgst`` followed by
   ``dd bs=8M`` per file (a user-space copy; ``cp`` copies inside the kernel with copy_file_range).
4. **An extrapolation** from those figures to a district, a city and a large city.

This is a benchmark, not a test: it prints a table and exits 1 if a target is missed (0 otherwise).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

# Run as ``python bench/scale.py``: Python puts bench/ first on sys.path, where bench/ingest.py
# would shadow the ``ingest`` package. Use the project root instead.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text, update  # noqa: E402

from bench.custody import PG_ADMIN, pg_database, pg_reachable  # noqa: E402
from bench.ingest import H264_EXTRA, Contention, ingest_baseline, machine, rmtree, sha256_of  # noqa: E402
from bench.machine import begin, busy_cpu_s, log, own_cpu_s, print_results, settle  # noqa: E402
from evidence.adapters.database import make_engine  # noqa: E402
from evidence.jobs import JobKind  # noqa: E402
from evidence.models import CustodyEvent, Item, Job, utcnow  # noqa: E402
from evidence.unit_of_work import transaction  # noqa: E402
from ingest import worker  # noqa: E402
from ingest.daemon import Daemon  # noqa: E402
from ingest.pipeline import ingest_file  # noqa: E402
from ingest.runtime import open_runtime  # noqa: E402
from ingest.samples import make_clip  # noqa: E402
from storage_config.settings import Settings, load_settings  # noqa: E402

MB = 1_000_000
SCALE_TARGET = 1.8  # jobs/s of 2 worker processes / 1
BURST_TARGET = 50.0  # files/s stored and verified
INGEST_TARGET = 1.0  # station time / (openssl dgst + cp) time
CORES = os.cpu_count() or 1
# `evidence worker` as its console script runs it, but from this tree (the venv's script may point elsewhere)
LAUNCH = "import sys; from cli.main import main; sys.argv[0] = 'evidence'; sys.exit(main())"
STATION = "BENCH"


def now_s() -> float:
    return time.time()


def load() -> float:
    return os.getloadavg()[0]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ---------------------------------------------------------------------------- databases


class Databases:
    """Scratch databases: PostgreSQL (each dropped at the end) when it answers, else SQLite files."""

    def __init__(self, use_pg: bool):
        self.use_pg = use_pg
        self.drops: dict[str, Callable[[], None]] = {}

    @property
    def kind(self) -> str:
        return "PostgreSQL" if self.use_pg else "SQLite"

    def new(self, home: Path) -> str:
        home.mkdir(parents=True, exist_ok=True)
        if not self.use_pg:
            return f"sqlite:///{home / 'evidence.db'}"
        url, drop = pg_database(f"evidence_scale_{uuid.uuid4().hex[:10]}")
        self.drops[url] = drop
        return url

    def size(self, url: str, home: Path) -> int | None:
        """The database's bytes (PostgreSQL's pg_database_size); None on SQLite (its WAL muddles it)."""
        if not self.use_pg:
            return None
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        finally:
            engine.dispose()

    def drop(self, url: str) -> None:
        drop = self.drops.pop(url, None)
        if drop:
            drop()

    def drop_all(self) -> None:
        for url in list(self.drops):
            self.drop(url)


def settings_for(home: Path, url: str, upload: Path, **overrides) -> Settings:
    return load_settings(
        home=home,
        database_url=url,
        storage_url=f"file://{home / 'objects'}",
        upload_points=f"{STATION}={upload}",
        station_id=STATION,
        **overrides,
    )


def env_for(s: Settings) -> dict[str, str]:
    """The environment that gives a CLI process the same settings (this tree's code first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        EVIDENCE_HOME=str(s.home),
        EVIDENCE_DATABASE_URL=s.database_url,
        EVIDENCE_STORAGE_URL=s.storage_url,
        EVIDENCE_UPLOAD_POINTS=s.upload_points,
        EVIDENCE_STATION_ID=s.station_id,
        EVIDENCE_TRANSCODE_THREADS=str(s.transcode_threads),
        # long enough that no renewal rewrites heartbeat_at, which then says when the job was claimed
        EVIDENCE_JOB_LEASE_SECONDS="600",
    )
    return env


# ---------------------------------------------------------------------------- 1. proxy jobs


def make_hevc_clips(work: Path, n: int, seconds: float) -> list[Path]:
    """``n`` distinct copies of one real H.265 1080p30 clip with AAC audio."""
    t0 = time.perf_counter()
    base = make_clip(work / "clips" / "hevc-base.mp4", codec="h265", seconds=seconds, size="1920x1080", fps=30)
    log(f"  made {base.name}: {seconds:g} s, {base.stat().st_size / MB:.1f} MB in {time.perf_counter() - t0:.1f}s")
    data = base.read_bytes()
    out = []
    for i in range(n):
        path = work / "clips" / "hevc" / f"PX_{i:03d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data + os.urandom(16) + i.to_bytes(4, "big"))
        out.append(path)
    return out


def start_workers(s: Settings, count: int, logs: Path) -> list[tuple[subprocess.Popen, Path]]:
    procs = []
    for n in range(count):
        err = logs / f"worker-{n}.log"
        with open(err, "w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "worker", "--concurrency", "1", "--kinds", "proxy", "--grace", "5"],
                cwd=ROOT,
                env=env_for(s),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own group: stopped with its ffmpeg, whatever happens here
            )
        procs.append((proc, err))
    deadline = time.monotonic() + 120
    for proc, err in procs:
        while "worker:" not in err.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_workers(procs)
                raise SystemExit(f"evidence worker did not start:\n{err.read_text(errors='replace')}")
            time.sleep(0.1)
    return procs


def stop_workers(procs: list[tuple[subprocess.Popen, Path]]) -> None:
    """SIGTERM each worker we started; its process group is killed only if it does not stop."""
    for proc, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc, _ in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def proxy_run(work: Path, dbs: Databases, clips: list[Path], workers: int, threads: int, tag: str) -> dict:
    """N held proxy jobs, drained by ``workers`` `evidence worker` processes: the measured run."""
    home = work / f"proxy-{tag}"
    upload = home / "upload"
    device = upload / "BENCH01"
    device.mkdir(parents=True)
    url = dbs.new(home)
    s = settings_for(home, url, upload, source_policy="keep", transcode_threads=threads)
    rt = open_runtime(s, "bench")
    procs: list[tuple[subprocess.Popen, Path]] = []
    try:
        for clip in clips:
            dst = device / clip.name
            shutil.copyfile(clip, dst)
            result = ingest_file(rt, s.points[0], dst)
            if result.outcome != "new":
                raise SystemExit(f"ingest of {dst} gave {result.as_dict()}")
        worker.drain(rt, kinds=[JobKind.PROBE])
        with transaction(rt.sessions) as session:
            held = session.execute(
                update(Job).where(Job.kind == "proxy").values(run_after=utcnow() + timedelta(days=1))
            ).rowcount
        if held != len(clips):
            raise SystemExit(f"{held} proxy jobs queued after probing, expected {len(clips)}")
        settle(wait=False)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        all0, own0 = busy_cpu_s(), own_cpu_s()
        procs = start_workers(s, workers, home)
        busy0, released = busy_cpu_s(), now_s()
        with transaction(rt.sessions) as session:
            session.execute(update(Job).where(Job.kind == "proxy").values(run_after=utcnow() - timedelta(seconds=1)))
        deadline = time.monotonic() + 1800
        while True:
            with transaction(rt.sessions) as session:
                states = dict(
                    session.execute(
                        select(Job.state, func.count()).where(Job.kind == "proxy").group_by(Job.state)
                    ).all()
                )
            if states.get("done", 0) == len(clips):
                break
            if states.get("failed") or time.monotonic() > deadline:
                raise SystemExit(f"proxy jobs: {states}; worker logs in {home}")
            time.sleep(0.2)
        busy = busy_cpu_s() - busy0
        with transaction(rt.sessions) as session:
            first, last = session.execute(
                select(func.min(Job.heartbeat_at), func.max(Job.finished_at)).where(Job.kind == "proxy")
            ).one()
            items = session.scalars(select(Item)).all()
            made = session.scalars(select(CustodyEvent.details).where(CustodyEvent.kind == "proxy_made")).all()
        stop_workers(procs)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        every, own = busy_cpu_s() - all0, own_cpu_s() - own0
        procs = []
        bad = [i.id for i in items if i.status != "ready" or i.proxy_method != "transcode"]
        if bad or len(made) != len(clips):
            raise SystemExit(f"items {bad} not made ready by a transcode ({len(made)} proxy_made events)")
        bounded = sum('"-threads"' in d for d in made)
        if bounded != (len(clips) if threads else 0):
            raise SystemExit(
                f"{bounded} of {len(made)} transcodes ran with -threads; EVIDENCE_TRANSCODE_THREADS={threads}"
            )
        seconds = last.timestamp() - first.timestamp()
        cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        return {
            "seconds": seconds,
            "jobs_per_s": len(clips) / seconds,
            "pickup": first.timestamp() - released,
            "worker_cpu": cpu,  # the workers and their ffmpeg, start-up to stop (imports included)
            # CPU anything but this bench and its workers used meanwhile (another job sharing the machine)
            "other_cpu": max(0.0, every - own - cpu),
            "busy_cores": busy / (last.timestamp() - released),
            "load": load(),
        }
    finally:
        stop_workers(procs)
        rt.close()
        dbs.drop(url)
        rmtree(home)


# ---------------------------------------------------------------------------- stations (2 and 3)


@dataclass
class Station:
    """A station (Daemon without jobs or maintenance) running in a thread of this process."""

    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.daemon = Daemon(self.settings, self.stop, jobs=False, maintenance=False)
        self.thread = threading.Thread(target=self.daemon.run, name="bench-station", daemon=True)

    def start(self) -> Station:
        self.thread.start()
        deadline = time.monotonic() + 120
        health = self.daemon.health
        while True:
            parts = dict(health.parts)
            up = all(name in parts and parts[name].state == "running" for name in ("ingest", "watcher"))
            if up and health.last_scan_at is not None:
                break
            if health.failure or time.monotonic() > deadline or not self.thread.is_alive():
                raise SystemExit(f"the station did not start: {health.as_dict()}")
            time.sleep(0.1)
        time.sleep(0.5)  # the watcher's inotify watches are set just after its thread starts
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        if self.daemon.health.failure:
            raise SystemExit(f"the station gave up: {self.daemon.health.failure}")


def verified_times(url: str) -> dict[str, float]:
    """sha256 -> when the item's ``verified`` event was recorded (epoch s)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Item.sha256, CustodyEvent.recorded_at, CustodyEvent.occurred_at)
                .join(CustodyEvent, CustodyEvent.item_id == Item.id)
                .where(CustodyEvent.kind == "verified")
            ).all()
    finally:
        engine.dispose()
    return {sha: (rec or occ).timestamp() for sha, rec, occ in rows}


def wait_verified(url: str, n: int, timeout: float, poll: float) -> None:
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                done = conn.execute(
                    select(func.count()).select_from(CustodyEvent).where(CustodyEvent.kind == "verified")
                ).scalar_one()
            if done >= n:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"only {done} of {n} files stored and verified after {timeout:.0f}s")
            time.sleep(poll)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- 2. burst


def make_burst(src: Path, base: bytes, n: int, devices: int) -> dict[Path, tuple[str, str]]:
    """``n`` distinct small clips beside the upload point: path -> (recorder folder, sha256)."""
    out = {}
    for i in range(n):
        folder = f"ZFY{i % devices:04d}"
        path = src / folder / f"{folder}_20261130_{i:06d}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base + os.urandom(16) + i.to_bytes(4, "big"))
        out[path] = (folder, sha256_of(path))
    return out


def burst_run(work: Path, dbs: Databases, base: bytes, n: int, concurrency: int, settle_s: float, tag: str) -> dict:
    home = work / f"burst-{tag}"
    upload, src = home / "upload", home / "incoming"
    devices = 20
    for d in range(devices):
        (upload / f"ZFY{d:04d}").mkdir(parents=True)
    files = make_burst(src, base, n, devices)
    url = dbs.new(home)
    s = settings_for(
        home, url, upload, source_policy="move", settle_seconds=settle_s, rescan_seconds=3600.0,
        ingest_concurrency=concurrency,
    )  # fmt: skip
    station = Station(s)
    try:
        station.start()
        size0 = dbs.size(url, home)
        settle()
        arrival: dict[str, float] = {}
        load0 = load()
        with Contention() as c:
            for path, (folder, sha) in files.items():
                os.rename(path, upload / folder / path.name)
                arrival[sha] = now_s()
            wait_verified(url, n, timeout=60 + n, poll=0.25)
        stored = verified_times(url)
        size1 = dbs.size(url, home)
    finally:
        station.close()
        dbs.drop(url)
        rmtree(home)
    latency = [stored[sha] - arrival[sha] for sha in arrival]
    span = max(stored.values()) - min(arrival.values())
    return {
        "files_per_s": n / span,
        "span": span,
        "p50": statistics.median(latency),
        "p95": pct(latency, 0.95),
        "max": max(latency),
        "db_per_item": None if size0 is None or size1 is None else (size1 - size0) / n,
        "load": (load0, load()),
        "other_cpu": c.other,
    }


# ---------------------------------------------------------------------------- 3. 1 GB through a station


def make_big(work: Path, gb: float, seconds: float) -> tuple[list[Path], dict[Path, str]]:
    """Real 1080p30 H.264 files of 13.5 Mbit/s (60 s: ~100 MB, as bench/ingest.py), each with its own
    SHA-256, adding up to >= ``gb`` GB."""
    t0 = time.perf_counter()
    base = make_clip(
        work / "clips" / "h264-1080p30.mp4", codec="h264", seconds=seconds, size="1920x1080", fps=30, extra=H264_EXTRA
    )
    size = base.stat().st_size
    log(f"  made {base.name}: {size / MB:.1f} MB in {time.perf_counter() - t0:.1f}s")
    src = work / "big" / "BENCH01"
    src.mkdir(parents=True)
    files = []
    for i in range(max(1, math.ceil(gb * 1e9 / size))):
        dst = src / f"BENCH01_clip{i:02d}.mp4"
        shutil.copyfile(base, dst)
        with open(dst, "ab") as f:
            f.write(os.urandom(16) + i.to_bytes(4, "big"))
        files.append(dst)
    base.unlink()
    hashes = {p: sha256_of(p) for p in files}  # also warms the page cache for both sides
    return files, hashes


def station_big_run(
    work: Path, dbs: Databases, files: list[Path], hashes: dict[Path, str], concurrency: int, rep: int
) -> dict:
    """Rename the files into a running station's upload point; time until the last is verified."""
    home = work / f"station-{concurrency}-{rep}"
    upload = home / "upload"
    (upload / "BENCH01").mkdir(parents=True)
    url = dbs.new(home)
    s = settings_for(
        home, url, upload, source_policy="move", settle_seconds=0.0, rescan_seconds=3600.0,
        ingest_concurrency=concurrency,
    )  # fmt: skip
    station = Station(s)
    moved: list[tuple[Path, Path]] = []
    try:
        station.start()
        settle()  # as before every timed run: sync, and wait until freed RAM has gone back to the host
        busy0, t0 = busy_cpu_s(), now_s()
        with Contention() as c:
            for p in files:
                dst = upload / "BENCH01" / p.name
                os.rename(p, dst)
                moved.append((p, dst))
            wait_verified(url, len(files), timeout=600, poll=0.05)
        busy = busy_cpu_s() - busy0
        stored = verified_times(url)
    finally:
        station.close()
        # the sources went to the archive ("move"): back where they were, still in the page cache
        for p, dst in moved:
            for where in (dst, upload / s.archive_dirname / "BENCH01" / p.name):
                if where.exists():
                    os.rename(where, p)
                    break
        dbs.drop(url)
        rmtree(home)
    if sorted(stored.values()) and set(stored) != set(hashes.values()):
        raise SystemExit("the station stored other hashes than the inputs'")
    end = max(stored.values())
    return {"seconds": end - t0, "busy_cores": busy / max(1e-9, now_s() - t0), "other_cpu": c.other}


def dd_baseline(work: Path, files: list[Path], rep: int) -> dict:
    """For information: ``openssl dgst`` then a user-space copy (``dd bs=8M``, read() and write() as ingest
    does), timed together. ``cp`` uses copy_file_range, which on this VM skips a cost every process
    writing from its own buffers pays (docs/benchmarks.md, "Scale-out")."""
    dest = work / f"dd-{rep}"
    dest.mkdir()
    settle()
    with Contention() as c:
        t0 = time.perf_counter()
        subprocess.run(["openssl", "dgst", "-sha256", "-r", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
        for p in files:
            subprocess.run(["dd", f"if={p}", f"of={dest / p.name}", "bs=8M", "status=none"], check=True)
        elapsed = time.perf_counter() - t0
    rmtree(dest)
    return {"seconds": elapsed, "other_cpu": c.other}


# ---------------------------------------------------------------------------- 4. extrapolation


@dataclass(frozen=True)
class City:
    name: str
    recorders: int


CITIES = (City("district", 80), City("city", 3_000), City("large city", 10_000))
# assumptions, as docs/deploy.md "Sizing": 6 Mbit/s, 4 h recorded per recorder a day, 180 days kept,
# 20 clips per recorder a day; a station docks at most 40 recorders; peaks: a day's footage in 8 h
MBIT = 6.0
HOURS_A_DAY = 4.0
KEEP_DAYS = 180
CLIPS_A_DAY = 20
RECORDERS_PER_STATION = 40
PEAK_HOURS = 8.0
DB_BYTES_PER_ITEM_FULL = 12_506  # docs/deploy/measure_db_growth.py on PostgreSQL: ingest + probe + proxy + poster


def extrapolate(
    tc_core_s_per_footage_h: float | None, station_mb_s: float | None, files_per_s: float | None, db_item: float | None
) -> list[list[str]]:
    rows = []
    footage_gb_per_h = MBIT / 8 * 3600 / 1000  # GB per footage hour
    per_item = max(DB_BYTES_PER_ITEM_FULL, db_item or 0)
    for city in CITIES:
        hours = city.recorders * HOURS_A_DAY
        day_tb = hours * footage_gb_per_h / 1000
        items = city.recorders * CLIPS_A_DAY
        stations = max(1, math.ceil(city.recorders / RECORDERS_PER_STATION))
        if station_mb_s:  # enough stations that a day's footage is taken within PEAK_HOURS
            stations = max(stations, math.ceil(day_tb * 1e6 / (station_mb_s * PEAK_HOURS * 3600)))
        if tc_core_s_per_footage_h:
            core_h = hours * tc_core_s_per_footage_h / 3600  # if every recorder writes H.265
            cores = math.ceil(core_h / PEAK_HOURS)
            workers = f"{cores} procs ({math.ceil(cores / 2)} 2-core hosts)"
        else:
            cores, workers = 0, "n/a"
        rows.append(
            [
                city.name,
                f"{city.recorders:,}",
                f"{day_tb:.2f} TB/day",
                f"{stations} ({stations * 2} cores)",
                workers,
                f"{stations * 2 + cores + 4}",
                f"{items * per_item * 365 / 1e9:.1f} GB/yr",
                f"{day_tb * KEEP_DAYS / 1000:.2f} PB" if day_tb * KEEP_DAYS >= 1000 else f"{day_tb * KEEP_DAYS:.0f} TB",
                f"{items / 86400:.2f}/s avg; {files_per_s:.0f}/s per station measured" if files_per_s else "n/a",
            ]
        )
    return rows


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    log("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    log("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        log("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


# ---------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run of every part (about 1.5 minutes)")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run (default 1,2,3; 4 always)")
    parser.add_argument("--jobs", type=int, help="proxy jobs (default 12, quick 4)")
    parser.add_argument("--clip-seconds", type=float, help="seconds of each H.265 clip (default 5, quick 3)")
    parser.add_argument("--burst", type=int, help="files in the burst (default 1000, quick 200)")
    parser.add_argument("--settle", type=float, default=1.0, help="the burst station's settle_seconds (default 1)")
    parser.add_argument("--gb", type=float, help="GB through the station (default 1.0, quick 0.3)")
    parser.add_argument("--reps", type=int, help="repetitions of part 3 (default 3, quick 1)")
    parser.add_argument("--proxy-reps", type=int, help="repetitions of each part 1 configuration (default 1)")
    parser.add_argument("--out", type=Path, help="folder for working files (default: system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the working files")
    args = parser.parse_args()
    q = args.quick
    n_jobs = args.jobs or (4 if q else 12)
    clip_s = args.clip_seconds or (3.0 if q else 5.0)
    n_burst = args.burst or (200 if q else 1000)
    gb = args.gb or (0.3 if q else 1.0)
    reps = args.reps or (1 if q else 3)
    proxy_reps = args.proxy_reps or 1
    warmup = 0 if q else 1
    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    started = time.perf_counter()
    work, load_before = begin(parser, ("ffmpeg", "ffprobe", "openssl", "cp"), args.out, "evidence-scale-", machine())
    why = pg_reachable()
    dbs = Databases(why is None)
    log(f"database: {dbs.kind}" + (f" (PostgreSQL not reachable at {PG_ADMIN}: {why})" if why else f" at {PG_ADMIN}"))
    log(f"cores: {CORES}; EVIDENCE_INGEST_CONCURRENCY default here: {load_settings().ingest_concurrency}")
    rows: list[tuple] = []

    def row(name, ours_text, base_text, ratio_text, target, ok):
        rows.append((name, ours_text, base_text, ratio_text, target, "" if ok is None else ("PASS" if ok else "FAIL")))

    proxy: dict[tuple[int, int], list[dict]] = {}
    burst: dict[int, dict] = {}
    big: dict[str, list[dict]] = {"ours": [], "one": [], "base": [], "dd": []}
    try:
        if 1 in parts:
            log(f"1. proxy jobs: {n_jobs} H.265 1080p30 {clip_s:g} s clips, 1 vs 2 `evidence worker` processes")
            clips = make_hevc_clips(work, n_jobs, clip_s)
            configs = [(1, 0), (2, 0), (1, 1), (2, 1)]
            for rep in range(proxy_reps):
                for workers_n, threads in configs:
                    r = proxy_run(work, dbs, clips, workers_n, threads, f"{workers_n}w{threads}t{rep}")
                    proxy.setdefault((workers_n, threads), []).append(r)
                    log(
                        f"  {workers_n} worker(s), EVIDENCE_TRANSCODE_THREADS={threads}: {r['seconds']:.2f}s, "
                        f"{r['jobs_per_s']:.2f} jobs/s; machine busy {r['busy_cores']:.2f} cores; "
                        f"worker+ffmpeg CPU {r['worker_cpu']:.1f}s, other processes {r['other_cpu']:.1f}s; "
                        f"pickup {r['pickup']:.2f}s; load {r['load']:.2f}"
                    )
        if 2 in parts:
            log(f"2. burst: {n_burst} small clips at once into a station's upload point (settle {args.settle:g}s)")
            base_clip = make_clip(work / "clips" / "small.mp4", codec="h264", seconds=2, size="320x240", fps=30)
            base = base_clip.read_bytes()
            log(f"  one clip: {len(base) / 1000:.0f} kB")
            for conc in (CORES, 1):
                r = burst_run(work, dbs, base, n_burst, conc, args.settle, f"c{conc}")
                burst[conc] = r
                log(
                    f"  ingest_concurrency={conc}: {r['files_per_s']:.1f} files/s ({r['span']:.1f}s), "
                    f"arrival-to-stored p50 {r['p50']:.2f}s p95 {r['p95']:.2f}s max {r['max']:.2f}s; "
                    f"load {r['load'][0]:.2f}->{r['load'][1]:.2f}, other processes' CPU {r['other_cpu']:.1f}s"
                    + (f"; DB +{r['db_per_item']:.0f} B/item" if r["db_per_item"] else "")
                )
        if 3 in parts:
            log(f"3. {gb:g} GB through a station vs openssl dgst -sha256 + cp, alternating")
            files, hashes = make_big(work, gb, 20.0 if q else 60.0)
            total = sum(p.stat().st_size for p in files)
            log(f"  {len(files)} files, {total / MB:.0f} MB")
            for rep in range(warmup):
                w_ours = station_big_run(work, dbs, files, hashes, CORES, -1 - rep)
                w_base = ingest_baseline(work, files, hashes, -1 - rep, "openssl")
                log(f"  warm-up (not counted): station {w_ours['seconds']:.2f}s, openssl+cp {w_base['seconds']:.2f}s")
            for rep in range(reps):
                big["ours"].append(station_big_run(work, dbs, files, hashes, CORES, rep))
                big["base"].append(ingest_baseline(work, files, hashes, rep, "openssl"))
                if not q:
                    big["one"].append(station_big_run(work, dbs, files, hashes, 1, rep))
                big["dd"].append(dd_baseline(work, files, rep))
                log(
                    f"  rep {rep + 1}: station {big['ours'][-1]['seconds']:.2f}s "
                    f"(busy {big['ours'][-1]['busy_cores']:.2f} cores), openssl+cp {big['base'][-1]['seconds']:.2f}s"
                    + (f", station with ingest_concurrency=1 {big['one'][-1]['seconds']:.2f}s" if big["one"] else "")
                    + f", openssl+dd {big['dd'][-1]['seconds']:.2f}s"
                    + f"; other CPU {big['ours'][-1]['other_cpu']:.1f}s / {big['base'][-1]['other_cpu']:.1f}s"
                    + f"; load {load():.2f}"
                )
    finally:
        dbs.drop_all()
        if args.keep:
            log(f"kept {work}")
        else:
            rmtree(work)

    tc_core_s = None
    if proxy:
        m = {k: statistics.median(r["jobs_per_s"] for r in v) for k, v in proxy.items()}
        ratio = m[(2, 1)] / m[(1, 1)]
        row(
            "proxy jobs/s, 2 vs 1 worker process, TRANSCODE_THREADS=1",
            f"{m[(2, 1)]:.2f}/s",
            f"{m[(1, 1)]:.2f}/s",
            f"{ratio:.2f}x",
            f">= {SCALE_TARGET}x",
            ratio >= SCALE_TARGET,
        )
        row(
            "  same, TRANSCODE_THREADS=0 (ffmpeg's choice) (info)",
            f"{m[(2, 0)]:.2f}/s",
            f"{m[(1, 0)]:.2f}/s",
            f"{m[(2, 0)] / m[(1, 0)]:.2f}x",
            "-",
            None,
        )
        row(
            "  2 workers THREADS=1 vs 1 worker THREADS=0 (info)",
            f"{m[(2, 1)]:.2f}/s",
            f"{m[(1, 0)]:.2f}/s",
            f"{m[(2, 1)] / m[(1, 0)]:.2f}x",
            "-",
            None,
        )
        best = max(m.values())
        # the machine's cores, busy for this long per hour of footage (proxy + poster, at the best setting)
        tc_core_s = CORES / best / clip_s * 3600
        row(
            "  transcode cost at the best setting (info)",
            f"{tc_core_s:.0f} core-s per footage hour",
            "-",
            f"{clip_s * best / CORES:.2f}x realtime/core",
            "-",
            None,
        )
    if burst:
        ours, one = burst[CORES], burst[1]
        row(
            f"burst {n_burst} files, ingest_concurrency={CORES}",
            f"{ours['files_per_s']:.1f} files/s",
            f"{one['files_per_s']:.1f} files/s (c=1)",
            f"{ours['files_per_s'] / one['files_per_s']:.2f}x",
            f">= {BURST_TARGET:.0f}/s",
            ours["files_per_s"] >= BURST_TARGET,
        )
        row(
            "  arrival-to-stored p50 / p95 / max",
            f"{ours['p50']:.2f} / {ours['p95']:.2f} / {ours['max']:.2f}s",
            f"{one['p50']:.2f} / {one['p95']:.2f} / {one['max']:.2f}s",
            "-",
            f"(settle {args.settle:g}s)",
            None,
        )
    station_mb_s = None
    if big["ours"]:
        t_ours, t_base = (
            statistics.median(r["seconds"] for r in big["ours"]),
            statistics.median(r["seconds"] for r in big["base"]),
        )
        station_mb_s = total / MB / t_ours
        row(
            f"{len(files)} files, {total / MB:.0f} MB through a station (drop to last verified)",
            f"{t_ours:.2f}s {station_mb_s:.0f} MB/s",
            f"{t_base:.2f}s {total / MB / t_base:.0f} MB/s",
            f"ratio {t_ours / t_base:.2f}",
            f"<= {INGEST_TARGET:.2f}",
            t_ours / t_base <= INGEST_TARGET,
        )
        busy = statistics.median(r["busy_cores"] for r in big["ours"])
        row(
            "  station ingest per busy core (info)",
            f"{station_mb_s / busy:.0f} MB/s per core",
            "-",
            f"{busy:.2f} cores busy",
            "-",
            None,
        )
        # ingest fsyncs each object before it counts as stored (a crash must not lose verified evidence);
        # cp leaves its copies in the page cache: the sync after it is what would make them as durable
        t_durable = statistics.median(r["seconds"] + r["sync"] for r in big["base"])
        row(
            "  same, baseline openssl dgst + cp + sync (info: as durable as ours)",
            f"{t_ours:.2f}s",
            f"{t_durable:.2f}s {total / MB / t_durable:.0f} MB/s",
            f"ratio {t_ours / t_durable:.2f}",
            "-",
            None,
        )
        t_dd = statistics.median(r["seconds"] for r in big["dd"])
        row(
            "  same, baseline openssl dgst + dd bs=8M (info)",
            f"{t_ours:.2f}s",
            f"{t_dd:.2f}s {total / MB / t_dd:.0f} MB/s",
            f"ratio {t_ours / t_dd:.2f}",
            "-",
            None,
        )
        if big["one"]:
            t_one = statistics.median(r["seconds"] for r in big["one"])
            row(
                "  same, ingest_concurrency=1 (info)",
                f"{t_one:.2f}s {total / MB / t_one:.0f} MB/s",
                f"{t_base:.2f}s",
                f"ratio {t_one / t_base:.2f}",
                "-",
                None,
            )

    log("")
    log(
        "4. EXTRAPOLATION (not measured): assumptions "
        f"{MBIT:g} Mbit/s, {HOURS_A_DAY:g} h recorded per recorder a day, {CLIPS_A_DAY} clips, kept {KEEP_DAYS} days; "
        f"a station docks <= {RECORDERS_PER_STATION} recorders and must take a day's footage in {PEAK_HOURS:g} h; "
        f"every recorder writes H.265 (worst case: all transcodes) cleared in {PEAK_HOURS:g} h; "
        f"DB {max(DB_BYTES_PER_ITEM_FULL, (burst.get(CORES) or {}).get('db_per_item') or 0) / 1000:.1f} kB per item; "
        "cores = stations x 2 + worker processes + 4 (two 2-core API replicas); store before replication"
    )
    print_table(
        [
            "size",
            "recorders",
            "footage",
            "stations",
            "transcode workers (1 thread each)",
            "cores",
            "database",
            "store",
            "files",
        ],
        extrapolate(
            tc_core_s,
            station_mb_s,
            (burst.get(CORES) or {}).get("files_per_s"),
            (burst.get(CORES) or {}).get("db_per_item"),
        ),
    )
    log("")
    log(
        f"load average 1 min: {load_before:.2f} before, {load():.2f} after; database {dbs.kind}; "
        f"total {time.perf_counter() - started:.0f}s"
    )
    if not rows:
        log("nothing measured")
        return 0
    return print_results(["measurement", "ours (median)", "baseline (median)", "ratio", "target", "result"], rows)


if __name__ == "__main__":
    sys.exit(main())
