"""/metrics and /readyz on the API process: counts read from the real database after real ingest,
bounded labels, and readiness that follows the database and the store going away and coming back."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from evidence import custody_checkpoints, fixity
from evidence.models import Item, TimeSource
from evidence.unit_of_work import transaction
from ingest import checkpointing
from tests.evidence.test_fixity import flip_byte, tamper
from tests.servers import PG_ADMIN_URL, free_port


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def one(samples, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_metrics_read_the_database_after_real_ingest(world):
    rt, aud, a = world["rt"], world["clients"]["aud"], world["ids"]["a"]
    m = scrape(aud)
    assert one(m, "evidence_scrape_ok") == 1
    # two clips ingested for real: each probed, then given a proxy
    assert one(m, "evidence_jobs", kind="probe", state="done") == 2
    assert one(m, "evidence_jobs", kind="proxy", state="done") == 2
    assert one(m, "evidence_jobs", kind="proxy", state="failed") == 0
    assert one(m, "evidence_fixity_alarm_items") == 0
    assert one(m, "evidence_late_uploads") == 2  # the sample clips were recorded long before today
    with transaction(rt.sessions) as session:
        size = custody_checkpoints.log_size(session)
    assert one(m, "evidence_custody_log_events") == size > 0
    assert ("evidence_custody_checkpoint_age_seconds", ()) not in m  # none signed yet: absent

    checkpointing.checkpoint_once(rt)
    with transaction(rt.sessions) as session:
        key = session.get_one(Item, a).object_key
        targets = fixity.select_targets(session)
    tamper(rt, key, flip_byte)
    fixity.check_all(rt.sessions, rt.store, targets, agent="test")
    m = scrape(aud)
    assert one(m, "evidence_fixity_alarm_items") == 1
    assert 0 <= one(m, "evidence_custody_checkpoint_age_seconds") < 60
    assert one(m, "evidence_custody_log_events") > size  # the fixity checks are custody events


def test_late_uploads_count_the_late_not_the_excused(world):
    rt, aud, a, b = world["rt"], world["clients"]["aud"], world["ids"]["a"], world["ids"]["b"]
    assert one(scrape(aud), "evidence_late_uploads") == 2
    r = world["clients"]["sup1"].post(f"/api/v1/items/{a}/excuses", json={"reason": "recorder broken"})
    assert r.status_code in (200, 201), r.text
    assert one(scrape(aud), "evidence_late_uploads") == 1
    with transaction(rt.sessions) as session:
        item = session.get_one(Item, b)
        item.time_source = TimeSource.FILE_MTIME.value  # a doubtful time: neither on time nor late
    assert one(scrape(aud), "evidence_late_uploads") == 0


def test_request_latency_is_labelled_by_route_template_never_by_id(world):
    aud, ids = world["clients"]["aud"], world["ids"]
    for item_id in (ids["a"], ids["b"], 2_000_000_000):
        aud.get(f"/api/v1/items/{item_id}")
    aud.get("/no/such/path/12345")
    m = scrape(aud)
    requests = {dict(labels)["route"] for (name, labels) in m if name == "evidence_http_request_duration_seconds_count"}
    assert "/api/v1/items/{item_id}" in requests and "<unmatched>" in requests
    assert not [route for route in requests if any(part.isdigit() for part in route.split("/"))], requests
    counted = {
        dict(labels)["status"]: value
        for (name, labels) in m
        if name == "evidence_http_request_duration_seconds_count" and dict(labels)["route"] == "/api/v1/items/{item_id}"
        for value in [m[(name, labels)]]
    }
    assert counted == {"200": 2, "404": 1}
    # every label set is bounded: method, route template, status
    assert {k for (name, labels) in m if name.startswith("evidence_http_") for k, _ in labels} <= {
        "method",
        "route",
        "status",
        "le",
    }


def test_a_scrape_without_the_database_is_scrape_ok_0_never_a_500(make_settings):
    url = f"postgresql+psycopg://evidence@127.0.0.1:{free_port()}/nothing"
    client = TestClient(create_app(make_settings(database_url=url), migrate_db=False))
    m = scrape(client)
    assert one(m, "evidence_scrape_ok") == 0
    assert not any(name == "evidence_jobs" for name, _ in m)
    r = client.get("/readyz")
    assert r.status_code == 503 and "database" in r.json()["failed"]
    assert r.json()["database"]["ok"] is False and r.json()["database"]["error"]
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_readyz_follows_the_store_folder_going_away_and_back(world):
    client, rt = world["clients"]["aud"], world["rt"]
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready", r.text
    root = rt.store.root
    away = root.with_name("objects-away")
    root.rename(away)
    try:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["failed"] == ["store"] and r.json()["database"]["ok"] is True
        assert client.get("/healthz").status_code == 200
    finally:
        away.rename(root)
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("world", ["s3"], indirect=True)
def test_readyz_checks_the_bucket(world, moto):
    client, rt = world["clients"]["aud"], world["rt"]
    assert client.get("/readyz").status_code == 200
    for key, _ in list(rt.store.list_keys("")):
        for version in rt.store.client.list_objects(rt.store.bucket, prefix=key, include_version=True):
            rt.store.client.remove_object(rt.store.bucket, version.object_name, version_id=version.version_id)
    rt.store.client.remove_bucket(rt.store.bucket)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failed"] == ["store"]


@pytest.mark.parametrize("world", ["pg"], indirect=True)
def test_readyz_follows_the_database_dropped_and_back(world):
    client = world["clients"]["aud"]
    app = world["app"]
    assert client.get("/readyz").status_code == 200
    name = app.state.services.engine.url.database
    world["rt"].close()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failed"] == ["database"]
    assert one(scrape(client), "evidence_scrape_ok") == 0
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
