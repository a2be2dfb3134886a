"""Weight and server time of the web pages against the same data as JSON from the API.

Run from the project root::

    .venv/bin/python bench/pages.py [--items 60] [--reps 30] [--work DIR]

An embedded-default home (SQLite + folder store) gets ``--items`` real clips (ffmpeg, each distinct),
ingested by ``ingest.pipeline.ingest_file`` and proxied by the worker (posters too), all carried by
one officer of unit U1; a reviewer of U1 signs in through the sign-in form (the session cookie) and
through the token API (a bearer token). The home is kept in ``--work`` and reused.

1. **Server time**: the app in this process (``TestClient``: no network), alternating page and JSON,
   ``--reps`` times each after a warm-up; medians compared:
   - the search page at 50 items a page (``/items?limit=50``) against ``GET /api/v1/items?limit=50``;
   - the item page (``/items/{id}``: metadata, deadline, custody timeline, cases, marks) against the
     JSON it shows: ``GET /api/v1/items/{id}`` plus ``GET /api/v1/items/{id}/custody``.
   Target: a page <= 1.5x the time of its JSON.
2. **Weight**: the page's HTML plus every same-origin resource it loads at once (stylesheets,
   scripts, ``<img>`` not marked ``loading=lazy``, the video's poster), fetched as a browser would
   (the video itself is not counted: it streams in ranges as it plays). Bytes and requests; lazy images
   are listed apart (the browser fetches those as they scroll into view). Target: <= 300 KB.

A benchmark, not a test: it prints a table and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != HERE]
sys.path.insert(0, str(ROOT))

from bench.load import Table, machine  # noqa: E402
from bench.machine import log  # noqa: E402
from storage_config.settings import Settings, load_settings  # noqa: E402

TIME_RATIO = 1.5
WEIGHT_KB = 300
PAGE = 50
READY = "ready.txt"


def bench_settings(home: Path) -> Settings:
    return load_settings(home=home, station_id="bench", source_policy="keep", timezone="Asia/Shanghai")


def build(home: Path, items: int) -> str:
    """The home with ``items`` ingested clips; returns the reviewer's password."""
    from evidence import devices, users
    from evidence.unit_of_work import transaction
    from ingest import worker
    from ingest.pipeline import ingest_file
    from ingest.runtime import open_runtime
    from ingest.samples import make_clip

    settings = bench_settings(home)
    rt = open_runtime(settings, "bench")
    try:
        since = datetime(2026, 1, 1, tzinfo=UTC)
        with transaction(rt.sessions) as session:
            devices.assign(session, "ZFY0001", "110001", since, "U1")
            users.add_user(session, "off1", ["officer"], "U1", "110001")
            user, password = users.add_user(session, "rev1", ["reviewer"], "U1", None)
            user.must_change_password = False
        upload = settings.points[0].path / "ZFY0001"
        upload.mkdir(parents=True, exist_ok=True)
        start = datetime.now(UTC) - timedelta(days=2)
        for i in range(items):
            clip = upload / f"BENCH_{i:04d}.mp4"
            make_clip(clip, seconds=2.0, size="640x360", creation_time=start + timedelta(minutes=7 * i))
            result = ingest_file(rt, settings.points[0], clip)
            if result.item_id is None:
                raise SystemExit(f"{clip.name} was not ingested: {result}")
            worker.drain(rt, item_ids=[result.item_id])
            if i % 10 == 9:
                log(f"  ingested {i + 1} of {items}")
    finally:
        rt.close()
    return password


class Resources(HTMLParser):
    """Same-origin resources a page loads: (url, lazy)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.found.append((a["href"] or "", False))
        elif tag == "script" and a.get("src"):
            self.found.append((a["src"] or "", False))
        elif tag == "img" and a.get("src"):
            self.found.append((a["src"] or "", a.get("loading") == "lazy"))
        elif tag == "video" and a.get("poster"):
            self.found.append((a["poster"] or "", False))


def weight(client, path: str) -> tuple[int, int, int, int]:
    """(bytes, requests) loaded at once, and (bytes, requests) of lazy images."""
    page = client.get(path)
    page.raise_for_status()
    parser = Resources()
    parser.feed(page.text)
    eager, lazy = [len(page.content), 1], [0, 0]
    for url in dict.fromkeys(u for u, _ in parser.found):
        if not url.startswith("/"):
            raise SystemExit(f"{path} loads {url}: not from this server")
        size = len(client.get(url).content)
        bucket = lazy if any(lz for u, lz in parser.found if u == url) else eager
        bucket[0] += size
        bucket[1] += 1
    return eager[0], eager[1], lazy[0], lazy[1]


def timed(client, paths: list[str]) -> float:
    t0 = time.perf_counter()
    for path in paths:
        r = client.get(path)
        if r.status_code != 200:
            raise SystemExit(f"{path}: {r.status_code} {r.text[:200]}")
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-pages-"))
    home = work / f"pages-{args.items}"
    log(f"machine: {machine()}")
    log(f"load average before: {os.getloadavg()[0]:.2f} (1 min)")
    if not (home / READY).exists():
        log(f"building a home of {args.items} items in {home}")
        password = build(home, args.items)
        (home / READY).write_text(password)
    password = (home / READY).read_text()
    app = create_app(bench_settings(home))
    page = TestClient(app, base_url="http://127.0.0.1")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/").text)
    assert nonce is not None
    signed = page.post("/", data={"username": "rev1", "password": password, "csrf_token": nonce.group(1)})
    signed.raise_for_status()
    api = TestClient(app, base_url="http://127.0.0.1")
    token = api.post("/api/v1/auth/token", data={"username": "rev1", "password": password}).json()["access_token"]
    api.headers["Authorization"] = f"Bearer {token}"
    listed = api.get("/api/v1/items", params={"limit": PAGE}).json()["items"]
    if len(listed) < PAGE:
        raise SystemExit(f"the reviewer sees {len(listed)} items, fewer than a page of {PAGE}")
    item = listed[len(listed) // 2]["id"]
    cases = {
        "search page, 50 items": ([f"/items?limit={PAGE}"], [f"/api/v1/items?limit={PAGE}"]),
        "item page": ([f"/items/{item}"], [f"/api/v1/items/{item}", f"/api/v1/items/{item}/custody"]),
    }
    table = Table()
    for name, (page_paths, json_paths) in cases.items():
        for _ in range(3):  # warm-up: templates compiled, statements cached
            timed(page, page_paths)
            timed(api, json_paths)
        ours, base = [], []
        for _ in range(args.reps):
            ours.append(timed(page, page_paths))
            base.append(timed(api, json_paths))
        o, b = statistics.median(ours) * 1000, statistics.median(base) * 1000
        log(f"  {name}: page {o:.1f} ms, JSON {b:.1f} ms")
        table.row(
            f"{name}: server time",
            f"{o:.1f} ms",
            f"JSON {b:.1f} ms",
            f"{o / b:.2f}",
            f"<= {TIME_RATIO}x",
            o / b <= TIME_RATIO,
        )
        size, requests, lazy_size, lazy_requests = weight(page, page_paths[0])
        json_size = sum(len(api.get(p).content) for p in json_paths)
        table.row(
            f"{name}: weight (HTML, CSS, JS, eager images)",
            f"{size / 1000:.1f} KB in {requests} requests",
            f"JSON {json_size / 1000:.1f} KB in {len(json_paths)}",
            f"{size / json_size:.2f}",
            f"<= {WEIGHT_KB} KB",
            size <= WEIGHT_KB * 1000,
        )
        if lazy_requests:
            table.info(
                f"{name}: lazy images (as they scroll into view)", f"{lazy_size / 1000:.1f} KB in {lazy_requests}", "-"
            )
    return table.print()


if __name__ == "__main__":
    sys.exit(main())
