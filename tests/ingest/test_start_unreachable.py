"""A role started while its database or its store is unreachable stays up (/healthz 200, /readyz 503)
and begins its work when they come back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from tests.ingest.test_daemon import wait_for
from tests.ingest.test_metrics import get
from tests.media import drop
from tests.servers import PG_ADMIN_URL, MotoServer, drop_pg_database, free_port, pg_url_of, worker_tag

EVIDENCE = str(Path(sys.executable).with_name("evidence"))


def station(processes, settings, **env_extra) -> str:
    """``evidence up --no-api`` with its metrics port; returns the port's base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(
        EVIDENCE_HOME=str(settings.home),
        EVIDENCE_STATION_ID="ST01",
        EVIDENCE_SETTLE_SECONDS="0.3",
        EVIDENCE_METRICS_PORT=str(port),
        **env_extra,
    )
    processes([EVIDENCE, "up", "--no-api"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def listening():
        try:
            return get(f"{base}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(listening)
    return base


def ingested_new(base: str) -> float:
    for line in get(f"{base}/metrics")[1].decode().splitlines():
        if line.startswith('evidence_ingest_files_total{outcome="new",station="ST01"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_station_started_before_its_database_exists_waits_then_ingests(make_settings, clips, processes):
    name = f"evidence_later_{worker_tag()}_{uuid.uuid4().hex[:10]}"
    settings = make_settings(database_url=pg_url_of(name))
    drop(clips["h264"], settings.points[0].path, "ZFY0001/early.mp4")
    try:
        base = station(processes, settings, EVIDENCE_DATABASE_URL=pg_url_of(name))
        code, body = get(f"{base}/healthz")
        assert code == 200 and json.loads(body)["status"] == "degraded"
        code, body = get(f"{base}/readyz")
        assert code == 503 and "database" in json.loads(body)["failed"]
        time.sleep(1)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        wait_for(lambda: get(f"{base}/readyz")[0] == 200)
        wait_for(lambda: ingested_new(base) == 1)
        assert json.loads(get(f"{base}/healthz")[1])["ingest"]["database_ok"] is True
    finally:
        drop_pg_database(name)  # forced; the station itself is killed by the fixture at teardown


def test_a_station_started_before_its_store_waits_then_ingests(make_settings, clips, processes):
    port = free_port()
    url = f"s3://testing:testing@127.0.0.1:{port}/evidence?secure=false&region=us-east-1"
    settings = make_settings(storage_url=url)
    drop(clips["h264"], settings.points[0].path, "ZFY0001/early.mp4")
    base = station(processes, settings, EVIDENCE_STORAGE_URL=url)
    wait_for(lambda: json.loads(get(f"{base}/healthz")[1]).get("ingest", {}).get("database_ok"))
    code, body = get(f"{base}/readyz")
    assert code == 503 and json.loads(body)["failed"] == ["store"]
    assert get(f"{base}/healthz")[0] == 200
    server = MotoServer(port=port).start()
    try:
        wait_for(lambda: ingested_new(base) == 1, timeout=90)
        wait_for(lambda: get(f"{base}/readyz")[0] == 200)
    finally:
        server.stop()


def test_the_api_started_before_its_database_exists_migrates_once_it_does(make_settings):
    name = f"evidence_later_{worker_tag()}_{uuid.uuid4().hex[:10]}"
    settings = make_settings(database_url=pg_url_of(name))
    (settings.home / "objects" / ".staging").mkdir(parents=True)
    client = TestClient(create_app(settings))
    try:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").json()["failed"] == ["database"]
        sign_in = {"username": "nobody", "password": "wrong"}
        r = client.post("/api/v1/auth/token", data=sign_in)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        wait_for(lambda: client.get("/readyz").status_code == 200)
        # reachable, perhaps not yet migrated: a 503 until then, never a 500
        seen = []

        def answered() -> bool:
            seen.append(client.post("/api/v1/auth/token", data=sign_in).status_code)
            return seen[-1] == 401

        wait_for(answered, every=0.05)
        assert set(seen) <= {401, 503}, seen
    finally:
        client.close()
        client.app.state.services.engine.dispose()
        drop_pg_database(name)
