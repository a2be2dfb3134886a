"""Scale-out (issue 13 §5): station, worker and API processes of the `evidence` CLI over one real
PostgreSQL and one S3 server: every file taken exactly once, every proxy made exactly once, a killed
or stalled worker's job finished elsewhere and its late result refused, outages waited out."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evidence import users
from evidence.adapters.database import make_engine, make_sessionmaker
from evidence.models import CustodyEvent, Item, Job, Receipt
from evidence.unit_of_work import transaction
from ingest.samples import make_clip
from storage_config.provision import open_store
from tests.cli.deployment import Deployment, Role, place, sha256, variant
from tests.servers import TcpForwarder, free_port
from tests.settings import settings_for

pytestmark = pytest.mark.slow  # a dozen real processes


@pytest.fixture(scope="module")
def base_clip(tmp_path_factory) -> bytes:
    """A tiny real H.264 clip (remuxed, not transcoded, into its proxy): the content of every variant."""
    made = make_clip(tmp_path_factory.mktemp("scale-out") / "base.mp4", seconds=1, size="160x120", audio=False)
    return made.read_bytes()


@pytest.fixture
def engine(pg_url):
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine):
    return make_sessionmaker(engine, read_only=True)


def state(sessions) -> dict:
    """What the queue and the ledgers hold now (for waiting, and for failure messages)."""
    with transaction(sessions) as s:
        jobs = dict(s.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        media = s.scalar(select(func.count()).where(Job.kind.in_(MEDIA_JOBS), Job.state == "done"))
        return {
            "media_jobs_done": media,
            "receipts": s.scalar(select(func.count()).select_from(Receipt)),
            "released": s.scalar(select(func.count()).where(Receipt.source_released_at.is_not(None))),
            "items": s.scalar(select(func.count()).select_from(Item)),
            "ready": s.scalar(select(func.count()).where(Item.status == "ready")),
            "jobs": jobs,
        }


# the jobs each item needs; the station with maintenance also queues fixity batches and the day's sweep
MEDIA_JOBS = ("probe", "proxy")


def settled(sessions, files: int, items: int) -> bool:
    """Every file received and released, every item ready, a probe and a proxy each done, no job left."""
    now = state(sessions)
    counts = (now["receipts"], now["released"], now["items"], now["ready"], now["media_jobs_done"])
    return counts == (files, files, items, items, 2 * items) and set(now["jobs"]) == {"done"}


def proxy_events(session: Session) -> Counter:
    """proxy_made events per item (any outcome)."""
    query = select(CustodyEvent.item_id).where(CustodyEvent.kind == "proxy_made")
    return Counter(session.scalars(query))


def check_ledgers(sessions, store, dropped: dict[tuple[str, str], str], outages: bool = False) -> None:
    """``dropped``: (station, rel path) -> sha256 of every file put into an upload point. After ``outages``
    a job may have failed and been retried (a warning), but none may have given up."""
    contents = set(dropped.values())
    with transaction(sessions) as s:
        items = {i.sha256: i for i in s.scalars(select(Item))}
        assert set(items) == contents and len(items) == len(contents)  # one item per content
        receipts = {(r.station_id, r.rel_path): r for r in s.scalars(select(Receipt))}
        assert set(receipts) == set(dropped)  # a receipt per file, no more
        by_item = {i.id: sha for sha, i in items.items()}
        for where, r in receipts.items():
            assert r.item_id is not None and by_item[r.item_id] == dropped[where], where
            assert r.source_released_at is not None and (r.source_disposition or "").startswith("moved to "), r
        outcomes = Counter(r.outcome for r in receipts.values())
        assert outcomes == {"new": len(contents), "duplicate": len(dropped) - len(contents)}, outcomes
        duplicates = s.scalar(select(func.count()).where(CustodyEvent.kind == "duplicate_received"))
        assert duplicates == len(dropped) - len(contents)
        made = proxy_events(s)
        assert set(made.values()) == {1} and set(made) == set(by_item), "not one proxy_made per item"
        bad = s.scalar(select(func.count()).where(CustodyEvent.kind == "proxy_made", CustodyEvent.outcome != "success"))
        assert bad == 0
        assert {(i.status, bool(i.proxy_key), bool(i.poster_key)) for i in items.values()} == {("ready", True, True)}
        jobs = Counter((j.kind, j.state) for j in s.scalars(select(Job)))
        media = {k: n for k, n in jobs.items() if k[0] in MEDIA_JOBS}
        assert media == {("probe", "done"): len(items), ("proxy", "done"): len(items)}, jobs
        assert {state for _, state in jobs} == {"done"}, jobs  # maintenance jobs too: none left behind
        failed = Counter(s.scalars(select(CustodyEvent.outcome).where(CustodyEvent.kind == "failed")))
        assert set(failed) <= ({"warning"} if outages else set()), failed
        proxies = [i.proxy_key for i in items.values()]
    keys = {key for key, _ in store.list_keys("derived/")}
    assert set(proxies) <= keys, "a recorded proxy is missing from the store"


def check_archives(stations: list[Role], dropped: dict[tuple[str, str], str]) -> None:
    """Each station released each of its files into its archive, unchanged; nothing left to take."""
    for role in stations:
        mine = {rel: sha for (station, rel), sha in dropped.items() if station == role.name}
        archive = role.upload / "_archive"
        kept = {p.relative_to(archive).as_posix(): sha256(p) for p in archive.rglob("*") if p.is_file()}
        assert kept == mine, f"{role.name}: archive differs from what was dropped"
        left = [p for p in role.upload.rglob("*") if p.is_file() and "_archive" not in p.parts]
        assert left == [], left


def verify_custody(deployment: Deployment) -> str:
    done = deployment.run("custody", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "custody log intact" in done.stdout
    return done.stdout


def test_three_stations_three_workers_two_apis_take_every_clip_once(
    tmp_path, processes, pg_url, moto, engine, db, base_clip
):
    storage_url = moto.url()
    d = Deployment.make(tmp_path, processes, pg_url, storage_url)
    # one station runs the site's maintenance (retention, fixity): the others need not
    stations = [
        d.start("ST01", "station"),
        d.start("ST02", "station", "--no-maintenance"),
        d.start("ST03", "station", "--no-maintenance"),
    ]
    workers = [d.start(f"W{n}", "worker", "--concurrency", "2") for n in (1, 2, 3)]
    ports = [free_port(), free_port()]
    apis = [d.start(f"API{n}", "serve", "--workers", "1", EVIDENCE_PORT=str(port)) for n, port in enumerate(ports, 1)]
    for role in stations:
        d.wait_said(role, "station running")
    for role in workers:
        d.wait_said(role, "worker: 2 thread(s)")

    # 300 files: 270 contents, 30 of them docked at a second station too, at about the same moment
    dropped: dict[tuple[str, str], str] = {}
    for n in range(270):
        data = variant(base_clip, n)
        targets = [stations[n % 3]] + ([stations[(n + 1) % 3]] if n % 9 == 0 else [])
        for role in targets:
            rel = f"ZFY{n % 7:04d}/clip-{n:03d}.mp4"
            place(role.upload, rel, data)
            dropped[(role.name, rel)] = sha256(role.upload / rel)
        if n % 30 == 29:
            time.sleep(0.3)  # in waves, as recorders dock: ingest and jobs overlap
    assert len(dropped) == 300 and len(set(dropped.values())) == 270

    d.wait_until(lambda: settled(db, 300, 270), "300 files taken and 270 items ready", 240, state=lambda: state(db))
    d.assert_alive()
    store = open_store(settings_for(tmp_path / "test-home", database_url=pg_url, storage_url=storage_url))
    check_ledgers(db, store, dropped)
    check_archives(stations, dropped)

    # both API processes serve the same items to a signed-in auditor
    with transaction(make_sessionmaker(engine)) as s:
        user, password = users.add_user(s, "audit", ["auditor"], "HQ", None)
        user.must_change_password = False  # as if they had chosen their own
    for role in apis:
        d.wait_said(role, "API on ")
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    token = sign_in(bases[0], "audit", password)
    for base in bases:
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            assert http.get("/readyz").status_code == 200
            assert len(listed_items(http)) == 270

    for role in stations + workers:  # a station signs the log once more as it stops
        assert d.stop(role) == 0, d.logs()
    said = verify_custody(d)
    matched = int(said.split(" checkpoints matched")[0].rsplit(" ", 1)[-1])
    assert matched >= 3, said  # each station signed with the one shared key


def sign_in(base: str, username: str, password: str) -> str:
    """A bearer token from the API at ``base``."""
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post("/api/v1/auth/token", data={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


def listed_items(http: httpx.Client) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        r = http.get("/api/v1/items", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


# -- a worker killed, a worker stalled ---------------------------------------------------------


def transcodes(role: Role) -> list[int]:
    """The ffmpeg processes ``role`` runs that encode H.264 (a transcode, not a remux).

    Found by parent, not by process group: a tool runs in a session of its own (ingest/tools.py).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == role.proc.pid and Path(os.fsdecode(args[0])).name == "ffmpeg" and b"libx264" in args:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def item_id_of(sessions, sha: str) -> int | None:
    with transaction(sessions) as s:
        return s.scalar(select(Item.id).where(Item.sha256 == sha))


def proxy_job(sessions, item_id: int) -> Job | None:
    with transaction(sessions) as s:
        return s.scalars(select(Job).where(Job.item_id == item_id, Job.kind == "proxy")).first()


def holder(sessions, item_id: int, workers: list[Role]) -> tuple[Role, list[int]] | None:
    """The worker running ``item_id``'s proxy job and its ffmpeg, once the transcode is under way."""
    job = proxy_job(sessions, item_id)
    if job is None or job.state != "running":
        return None
    for role in workers:
        if job.owner and job.owner.endswith(f":{role.proc.pid}"):
            tools = transcodes(role)
            if tools:
                return role, tools
    return None


def proxy_record(sessions, store, item_id: int) -> tuple:
    """What the log says of the item's proxy, and whether the stored proxy still matches it."""
    with transaction(sessions) as s:
        item = s.get_one(Item, item_id)
        events = list(
            s.scalars(select(CustodyEvent).where(CustodyEvent.item_id == item_id, CustodyEvent.kind == "proxy_made"))
        )
    assert len(events) == 1, f"{len(events)} proxy_made events for item {item_id}"
    (event,) = events
    assert event.outcome == "success" and item.status == "ready"
    details = json.loads(event.details) if isinstance(event.details, str) else event.details
    assert details["proxy_key"] == item.proxy_key and details["method"] == "transcode"
    stored = hashlib.sha256(b"".join(store.iter_chunks(item.proxy_key))).hexdigest()
    assert stored == details["proxy_sha256"], "the stored proxy is not the one the log describes"
    return item.proxy_key, item.poster_key, event.seq


def test_a_killed_workers_job_finishes_elsewhere_and_a_stalled_workers_late_result_is_refused(
    tmp_path, processes, pg_url, moto, db
):
    storage_url = moto.url()
    d = Deployment.make(tmp_path, processes, pg_url, storage_url, EVIDENCE_JOB_LEASE_SECONDS="3")
    station = d.start("ST01", "station", "--no-maintenance")
    # the slowest preset stretches a tiny transcode over seconds: long enough to catch it under way
    workers = [d.start(f"W{n}", "worker", EVIDENCE_TRANSCODE_PRESET="veryslow") for n in (1, 2, 3)]
    clip = make_clip(tmp_path / "hevc.mp4", codec="h265", seconds=6, size="320x240", audio=False).read_bytes()
    store = open_store(settings_for(tmp_path / "test-home", database_url=pg_url, storage_url=storage_url))
    for role in [station, *workers]:
        d.wait_said(role, "running" if role is station else "worker: 1 thread(s)")

    # SIGKILL, ffmpeg and all, in the middle of the transcode: another worker takes the job once the lease lapses
    place(station.upload, "ZFY0001/killed.mp4", clip)
    item_id = d.wait_until(lambda: item_id_of(db, hashlib.sha256(clip).hexdigest()), "the H.265 item", 60)
    victim, tools = d.wait_until(lambda: holder(db, item_id, workers), "a worker transcoding it", 60)
    d.kill(victim)
    # its ffmpeg dies with it, not left transcoding for nobody
    d.wait_until(lambda: not any(map(running, tools)), f"ffmpeg {tools} to die with its worker", 10)
    alive = [w for w in workers if w is not victim]

    def finished() -> Job | None:
        job = proxy_job(db, item_id)
        return job if job is not None and job.state in {"done", "failed"} else None

    job = d.wait_until(finished, "the killed worker's job done elsewhere", 90)
    assert (job.state, job.attempts, job.last_error) == ("done", 2, None)
    assert not job.owner.endswith(f":{victim.proc.pid}")
    proxy_record(db, store, item_id)

    # SIGSTOP mid-transcode: the lease lapses, another worker makes the proxy; SIGCONT: the late result is refused
    other = variant(clip, 1)
    place(station.upload, "ZFY0001/stalled.mp4", other)
    item_id = d.wait_until(lambda: item_id_of(db, hashlib.sha256(other).hexdigest()), "the second item", 60)
    stalled, tools = d.wait_until(lambda: holder(db, item_id, alive), "a worker transcoding it", 60)
    taken = proxy_job(db, item_id)
    groups = [stalled.proc.pid, *tools]  # the worker's and its ffmpeg's: the whole machine stalls
    for group in groups:
        os.killpg(group, signal.SIGSTOP)
    try:
        job = d.wait_until(finished, "the stalled worker's job done elsewhere", 90)
        before = proxy_record(db, store, item_id)
    finally:
        for group in groups:
            os.killpg(group, signal.SIGCONT)
    assert taken is not None and (job.state, job.attempts) == ("done", 2) and job.owner != taken.owner
    d.wait_said(stalled, f"dropped the result of job {job.id}", 90)
    said = stalled.text()
    assert f"job {job.id} (proxy): lease lost" in said, said
    assert proxy_record(db, store, item_id) == before  # one event, the same proxy, still the one described
    after = proxy_job(db, item_id)
    assert after is not None
    assert (after.state, after.attempts, after.owner, after.finished_at) == ("done", 2, job.owner, job.finished_at)
    with transaction(db) as s:
        assert s.scalar(select(func.count()).where(CustodyEvent.kind == "failed")) == 0
    d.assert_alive()  # the resumed worker goes on
    for role in [station, *alive]:
        assert d.stop(role) == 0, d.logs()
    verify_custody(d)


# -- outages under load ------------------------------------------------------------------------


class Feeder(threading.Thread):
    """Docks ``count`` files over the stations, one every ``every_s`` (every 8th content at two stations)."""

    def __init__(self, stations: list[Role], base: bytes, count: int, every_s: float):
        super().__init__(name="feeder", daemon=True)
        self.stations, self.base, self.count, self.every_s = stations, base, count, every_s
        self.dropped: dict[tuple[str, str], str] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        for n in range(self.count):
            if self.stop.wait(self.every_s):
                return
            data = variant(self.base, 1000 + n)
            first = n % len(self.stations)
            targets = [first] + ([(first + 1) % len(self.stations)] if n % 8 == 0 else [])
            for i in targets:
                role = self.stations[i]
                rel = f"ZFY{n % 5:04d}/outage-{n:03d}.mp4"
                self.dropped[(role.name, rel)] = sha256(place(role.upload, rel, data))


def outage(d: Deployment, relay: TcpForwarder, seconds: float) -> None:
    """Cut every connection through ``relay`` and refuse new ones for ``seconds``; then listen again."""
    relay.stop()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            d.assert_alive()  # the roles wait, they do not die
            time.sleep(0.5)
    finally:
        relay.start()  # on the same port: the roles' URLs are unchanged


def test_stations_and_workers_wait_out_database_and_store_outages(tmp_path, processes, pg_url, moto, db, base_clip):
    pg_port = urlsplit(pg_url).port
    pg_relay = TcpForwarder(("127.0.0.1", pg_port)).start()
    s3_relay = TcpForwarder(("127.0.0.1", moto.port)).start()
    feeder = None
    try:
        storage_url = moto.url()
        d = Deployment.make(
            tmp_path,
            processes,
            pg_url.replace(f"127.0.0.1:{pg_port}/", f"127.0.0.1:{pg_relay.port}/"),
            storage_url.replace(f"127.0.0.1:{moto.port}/", f"127.0.0.1:{s3_relay.port}/"),
            # a job whose outcome could not be recorded (the database was down) stays its worker's until
            # the lease lapses; a short one keeps the test short, and lets the outage take leases over too
            EVIDENCE_JOB_LEASE_SECONDS="10",
        )
        stations = [d.start("ST01", "station"), d.start("ST02", "station", "--no-maintenance")]
        workers = [d.start(f"W{n}", "worker", "--concurrency", "2") for n in (1, 2)]
        for role in stations:
            d.wait_said(role, "station running")
        for role in workers:
            d.wait_said(role, "worker: 2 thread(s)")

        feeder = Feeder(stations, base_clip, count=48, every_s=0.6)  # ~30 s of docking, through both outages
        feeder.start()
        time.sleep(4)
        outage(d, pg_relay, 10)  # the database goes away under load...
        time.sleep(4)
        outage(d, s3_relay, 10)  # ...then the store
        feeder.join(120)
        assert not feeder.is_alive()
        dropped = feeder.dropped
        contents = len(set(dropped.values()))
        assert len(dropped) == 54 and contents == 48
        # they did meet the outages (the roles reach the database and the store through the relays)
        for role in workers:
            assert "waits for the database" in role.text(), role.text()
        refused = f"127.0.0.1', port={s3_relay.port}): Failed to establish a new connection"
        assert any(refused in role.text() for role in stations + workers), d.logs()

        d.wait_until(
            lambda: settled(db, len(dropped), contents),
            f"{len(dropped)} files taken and {contents} items ready after the outages",
            180,
            state=lambda: state(db),
        )
        store = open_store(settings_for(tmp_path / "test-home", database_url=pg_url, storage_url=storage_url))
        check_ledgers(db, store, dropped, outages=True)
        check_archives(stations, dropped)
        for role in stations + workers:
            assert d.stop(role) == 0, d.logs()
        verify_custody(d)
    finally:
        if feeder is not None:
            feeder.stop.set()
        pg_relay.stop()
        s3_relay.stop()
