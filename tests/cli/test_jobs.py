"""`evidence jobs` and `evidence worker` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import select

from evidence.models import CustodyEvent, Item, Job
from evidence.unit_of_work import transaction
from ingest.pipeline import ingest_file
from ingest.runtime import open_runtime
from tests.cli.conftest import EVIDENCE
from tests.media import drop
from tests.settings import settings_for


def ingested(home, clips, database_url: str | None = None) -> tuple[object, int]:
    extra = {"database_url": database_url} if database_url else {}
    rt = open_runtime(settings_for(home, **extra), "test")
    point = rt.settings.points[0]
    return rt, ingest_file(rt, point, drop(clips["h264"], point.path, "ZFY0001/a.mp4")).item_id


@pytest.fixture(params=["sqlite", "postgresql"])
def db_env(request) -> dict[str, str]:
    return {} if request.param == "sqlite" else {"EVIDENCE_DATABASE_URL": request.getfixturevalue("pg_url")}


def test_failed_jobs_are_listed_and_retried(cli, clips, db_env):
    rt, item_id = ingested(cli.home, clips, db_env.get("EVIDENCE_DATABASE_URL"))
    try:
        with transaction(rt.sessions) as session:
            job = session.scalars(select(Job).where(Job.item_id == item_id, Job.kind == "probe")).one()
            job.state, job.attempts, job.last_error = "failed", 5, "StoreUnavailable: the S3 server is unreachable"
            job_id = job.id
        listed = cli("jobs", "--state", "failed", "--json", extra_env=db_env).stdout.splitlines()
        assert [(j["id"], j["kind"], j["attempts"], j["last_error"]) for j in map(json.loads, listed)] == [
            (job_id, "probe", 5, "StoreUnavailable: the S3 server is unreachable")
        ]
        assert cli("jobs", "--state", "failed", "--kind", "proxy", "--json", extra_env=db_env).stdout == ""
        table = cli("jobs", "--state", "failed", extra_env=db_env).stdout
        assert "probe" in table and "S3 server is unreachable" in table
        assert "queued again" in cli("jobs", "--retry", str(job_id), extra_env=db_env).stdout
        with transaction(rt.sessions) as session:
            again = session.get(Job, job_id)
            assert (again.state, again.attempts, again.finished_at) == ("queued", 0, None)
            (event,) = session.scalars(
                select(CustodyEvent).where(CustodyEvent.item_id == item_id, CustodyEvent.kind == "job_requeued")
            ).all()
            assert json.loads(event.details)["requested_by"].startswith("station operator")
        refused = cli("jobs", "--retry", str(job_id), ok=False, extra_env=db_env)
        assert refused.returncode == 2 and "only a failed job can be retried" in refused.stderr
        assert cli("jobs", "--retry", "999999", ok=False, extra_env=db_env).returncode == 4
    finally:
        rt.close()


def test_a_worker_refuses_an_unknown_kind(cli):
    proc = cli("worker", "--kinds", "probe,thumbnail", ok=False)
    assert proc.returncode == 2 and "unknown job kind(s) thumbnail" in proc.stderr


@pytest.mark.slow
def test_two_worker_processes_run_the_jobs_of_their_kinds_and_stop_on_sigterm(tmp_path, cli, clips, processes):
    rt, item_id = ingested(cli.home, clips)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_HOME=str(cli.home), EVIDENCE_STATION_ID="ST01", EVIDENCE_LOG_LEVEL="INFO")
    logs = [tmp_path / "probe.log", tmp_path / "proxy.log"]
    try:
        workers = []
        for log, kinds in zip(logs, ("probe", "proxy,clip"), strict=True):
            with open(log, "wb") as sink:
                workers.append(
                    processes(
                        [EVIDENCE, "worker", "--concurrency", "2", "--kinds", kinds],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=sink,
                    )
                )
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and status != "ready":
            time.sleep(0.3)
            with transaction(rt.sessions) as session:
                status = session.get(Item, item_id).status
        assert status == "ready", [log.read_text() for log in logs]
        with transaction(rt.sessions) as session:
            done = {j.kind: j.state for j in session.scalars(select(Job).where(Job.item_id == item_id))}
        assert done == {"probe": "done", "proxy": "done"}
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc, log in zip(workers, logs, strict=True):
            assert proc.wait(timeout=60) == 0, log.read_text()
            assert "stopping" in log.read_text()
        assert "for probe" in logs[0].read_text() and "for proxy, clip" in logs[1].read_text()
    finally:
        rt.close()
