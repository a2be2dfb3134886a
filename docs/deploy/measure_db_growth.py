"""Database growth per ingested item, measured: N distinct clips through ingest and the worker.

    .venv/bin/python docs/deploy/measure_db_growth.py [--items 300] [--pg postgresql://root@127.0.0.1:5432/test]

Each backend gets a fresh home (folder store) and database. The clips are one short real H.264 clip
(ffmpeg testsrc2) made distinct by appended bytes; each is ingested by ``ingest_file`` (item,
receipt, custody events) and its probe, proxy and poster jobs run by ``worker.drain``, then a
checkpoint is signed. Printed: the database's size before and after, per item. The items carry no
review activity (views, marks, cases): each view or download adds a custody event.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text  # noqa: E402

from ingest import checkpointing, worker  # noqa: E402
from ingest.pipeline import ingest_file  # noqa: E402
from ingest.runtime import open_runtime  # noqa: E402
from storage_config.settings import load_settings  # noqa: E402


def db_bytes(rt, home: Path) -> int:
    if rt.settings.database_url.startswith("sqlite"):
        rt.engine.dispose()  # no other connection: the WAL can be folded into the file
        with sqlite3.connect(home / "evidence.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in home.glob("evidence.db*"))
    with rt.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def run(name: str, database_url: str | None, items: int, clip: Path, work: Path) -> None:
    home = work / name
    overrides = {"database_url": database_url} if database_url else {}
    s = load_settings(home=home, station_id="ST01", source_policy="keep", **overrides)
    rt = open_runtime(s, "measure")
    try:
        before = db_bytes(rt, home)
        point = s.points[0]
        point.path.mkdir(parents=True, exist_ok=True)
        data = clip.read_bytes()
        for i in range(items):
            path = point.path / f"ZFY{i % 80:04d}" / f"20261101_{i % 24:02d}0000_{i}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data + os.urandom(20))
            ingest_file(rt, point, path)
        ran = worker.drain(rt)
        checkpointing.checkpoint_once(rt)
        after = db_bytes(rt, home)
        print(f"{name}: {items} items, {ran} jobs; {before} -> {after} bytes; {(after - before) / items:.0f} B/item")
    finally:
        rt.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--pg", default=os.environ.get("EVIDENCE_TEST_PG", "postgresql://root@127.0.0.1:5432/test"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = work / "clip.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)],
            check=True, timeout=120,
        )  # fmt: skip
        run("sqlite", None, args.items, clip, work)
        import psycopg

        db = f"measure_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        try:
            base = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            run("postgresql", f"{base}/{db}", args.items, clip, work)
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()
