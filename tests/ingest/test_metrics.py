"""The ingest side's metrics: what a running daemon ingests, what waits, what its jobs take; and the
metrics port of a role without the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.app import create_app
from ingest import metrics
from storage_config.probes import readiness_for
from tests.ingest.test_daemon import running, wait_for
from tests.media import drop
from tests.servers import free_port

EVIDENCE = str(Path(sys.executable).with_name("evidence"))


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_daemon_counts_what_it_ingests_and_its_jobs_in_the_api_metrics(make_settings, clips):
    settings = make_settings()
    point = settings.points[0]
    labels = {"station": point.station_id, "upload_point": str(point.path)}
    new_before = value("evidence_ingest_files_total", station="ST01", outcome="new")
    bytes_before = value("evidence_ingest_bytes_total", station="ST01")
    probes_before = value("evidence_job_duration_seconds_count", kind="probe", outcome="done")
    proxies_before = value("evidence_job_duration_seconds_count", kind="proxy", outcome="done")
    with running(settings) as daemon:
        client = TestClient(create_app(settings, lambda: daemon.health.as_dict(), migrate_db=False))
        size = drop(clips["h264"], point.path, "ZFY0001/one.mp4").stat().st_size
        wait_for(lambda: value("evidence_ingest_files_total", station="ST01", outcome="new") == new_before + 1)
        wait_for(lambda: value("evidence_job_duration_seconds_count", kind="proxy", outcome="done") > proxies_before)
        text = client.get("/metrics").text  # the daemon's families beside the API's, in one answer
    assert value("evidence_ingest_bytes_total", station="ST01") == bytes_before + size
    assert value("evidence_job_duration_seconds_count", kind="probe", outcome="done") == probes_before + 1
    assert 'evidence_jobs{kind="proxy",state="done"} 1.0' in text
    assert f'evidence_ingest_waiting_files{{station="ST01",upload_point="{point.path}"}} 0.0' in text
    assert "evidence_ingest_files_total" in text and "evidence_job_duration_seconds_bucket" in text
    assert "one.mp4" not in text  # no file name in a label
    # the daemon has stopped: its upload points are no longer reported
    assert REGISTRY.get_sample_value("evidence_ingest_waiting_files", labels) is None


def test_files_waiting_and_the_age_of_the_oldest(make_settings, clips):
    settings = make_settings(settle_seconds=3600)  # nothing settles: every file waits
    point = settings.points[0]
    labels = {"station": point.station_id, "upload_point": str(point.path)}
    drop(clips["h264"], point.path, "ZFY0001/a.mp4")
    drop(clips["mjpeg"], point.path, "ZFY0002/b.avi")
    with running(settings):
        wait_for(lambda: REGISTRY.get_sample_value("evidence_ingest_waiting_files", labels) == 2)
        first = REGISTRY.get_sample_value("evidence_ingest_oldest_waiting_seconds", labels)
        wait_for(lambda: REGISTRY.get_sample_value("evidence_ingest_oldest_waiting_seconds", labels) >= first + 0.5)


def test_failures_are_counted_by_error_class(make_settings, clips, tmp_path):
    settings = make_settings(storage_url=f"s3://a:b@127.0.0.1:{free_port()}/bucket?secure=false")
    point = settings.points[0]
    before = value("evidence_ingest_failures_total", station="ST01", error="StoreUnavailable")
    drop(clips["h264"], point.path, "ZFY0001/a.mp4")
    with running(settings):
        wait_for(lambda: value("evidence_ingest_failures_total", station="ST01", error="StoreUnavailable") > before)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_metrics_port_serves_metrics_health_and_readiness(make_settings):
    settings = make_settings()
    report = {"database_ok": True, "running": True}
    server = metrics.serve("127.0.0.1", 0, lambda: report, readiness_for(settings))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        code, body = get(f"{base}/metrics")
        assert code == 200 and b"evidence_ingest_waiting_files" in body
        assert get(f"{base}/healthz") == (200, json.dumps({"status": "ok", "ingest": report}).encode())
        code, body = get(f"{base}/readyz")  # the folder store is not provisioned yet
        assert code == 503 and json.loads(body)["failed"] == ["store"]
        (settings.home / "objects" / ".staging").mkdir(parents=True)
        assert get(f"{base}/readyz")[0] == 200
        report["running"] = False
        assert get(f"{base}/healthz")[0] == 503
        assert get(f"{base}/nothing")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_role_without_the_api_serves_its_metrics_port(make_settings, processes):
    settings = make_settings()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")},
        "EVIDENCE_HOME": str(settings.home),
        "EVIDENCE_METRICS_PORT": str(port),
        "EVIDENCE_SETTLE_SECONDS": "0.3",
    }
    processes([EVIDENCE, "up", "--no-api"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return get(f"{base}/readyz")[0] == 200
        except OSError:
            return False

    wait_for(ready)
    code, body = get(f"{base}/metrics")
    assert code == 200 and f'upload_point="{settings.points[0].path}"'.encode() in body
    code, body = get(f"{base}/healthz")
    assert code == 200 and json.loads(body)["ingest"]["running"] is True
