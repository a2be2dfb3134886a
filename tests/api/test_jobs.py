"""GET /api/v1/jobs and POST /api/v1/jobs/{id}/retry: the job queue for supervisors, auditors and admins."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from evidence.models import Job
from evidence.unit_of_work import transaction
from tests.api.conftest import events


def park_failed(rt, item_id: int, kind: str, error: str) -> int:
    """As the worker leaves a job after its last attempt (the world's jobs all ran)."""
    with transaction(rt.sessions) as session:
        job = session.scalars(select(Job).where(Job.item_id == item_id, Job.kind == kind)).one()
        job.state, job.attempts, job.last_error = "failed", 5, error
        return job.id


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_failed_jobs_are_listed_and_retried_by_supervisors_and_admins(world):
    rt, clients, item_id = world["rt"], world["clients"], world["ids"]["a"]
    job_id = park_failed(rt, item_id, "proxy", "StoreUnavailable: the S3 server is unreachable")
    for name in ("sup1", "aud", "adm"):
        r = clients[name].get("/api/v1/jobs", params={"state": "failed", "kind": "proxy"})
        assert r.status_code == 200, r.text
        assert [(j["id"], j["item_id"], j["attempts"], j["last_error"]) for j in r.json()] == [
            (job_id, item_id, 5, "StoreUnavailable: the S3 server is unreachable")
        ]
    assert clients["sup1"].get("/api/v1/jobs", params={"state": "failed", "kind": "probe"}).json() == []
    assert clients["sup1"].get("/api/v1/jobs", params={"kind": "thumbnail"}).status_code == 422
    for name in ("off1", "rev1"):
        r = clients[name].get("/api/v1/jobs")
        assert r.status_code == 403 and "supervisors, auditors and admins" in r.json()["error"]["message"]
    r = clients["aud"].post(f"/api/v1/jobs/{job_id}/retry")
    assert r.status_code == 403, r.text  # auditors look, they do not act
    r = clients["sup1"].post(f"/api/v1/jobs/{job_id}/retry")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["attempts"]) == ("queued", 0)
    (event,) = events(rt, item_id, "job_requeued")
    details = json.loads(event.details)
    assert details["job_id"] == job_id and details["requested_by"] == "sup1" and "S3 server" in details["last_error"]
    assert clients["adm"].post(f"/api/v1/jobs/{job_id}/retry").status_code == 409  # queued, not failed
    assert clients["adm"].post("/api/v1/jobs/999999/retry").status_code == 404


def test_a_job_id_beyond_the_database_is_refused_at_the_door(world):
    r = world["clients"]["sup1"].post(f"/api/v1/jobs/{2**63}/retry")
    assert r.status_code == 422
