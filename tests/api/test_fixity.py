"""Fixity through the API: the item view, the list filter, and the health endpoint's counter."""

from __future__ import annotations

import pytest

from evidence import fixity
from evidence.models import Item
from evidence.unit_of_work import transaction
from tests.evidence.test_fixity import flip_byte, tamper


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
def test_an_alarm_shows_on_the_item_in_the_list_filter_and_in_health(world):
    rt, aud, sup = world["rt"], world["clients"]["aud"], world["clients"]["sup1"]
    a, b = world["ids"]["a"], world["ids"]["b"]
    health = aud.get("/healthz").json()
    assert health["status"] == "ok" and health["fixity"] == {"items_in_alarm": 0}
    assert aud.get(f"/api/v1/items/{a}").json()["fixity"] == {"alarm": False, "checked_at": None}

    with transaction(rt.sessions) as session:
        key = session.get_one(Item, a).object_key
        targets = fixity.select_targets(session)
    tamper(rt, key, flip_byte)
    results = fixity.check_all(rt.sessions, rt.store, targets, agent="test")
    assert [(r.item_id, r.alarm) for r in results] == [(a, True), (b, False)]

    shown = aud.get(f"/api/v1/items/{a}").json()["fixity"]
    assert shown["alarm"] is True and shown["checked_at"].endswith("Z")
    assert aud.get(f"/api/v1/items/{b}").json()["fixity"]["alarm"] is False
    in_alarm = aud.get("/api/v1/items", params={"fixity_alarm": "true"}).json()["items"]
    assert [i["id"] for i in in_alarm] == [a] and in_alarm[0]["fixity"]["alarm"] is True
    assert [i["id"] for i in aud.get("/api/v1/items", params={"fixity_alarm": "false"}).json()["items"]] == [b]
    assert [i["id"] for i in sup.get("/api/v1/items", params={"fixity_alarm": "true"}).json()["items"]] == [a]
    assert world["clients"]["rev2"].get("/api/v1/items", params={"fixity_alarm": "true"}).json()["items"] == []
    assert aud.get("/api/v1/items", params={"fixity_alarm": "maybe"}).status_code == 422

    health = aud.get("/healthz")
    # an alarm is news for a monitor, not an outage: the service still answers 200
    assert health.status_code == 200 and health.json()["fixity"] == {"items_in_alarm": 1}
    events = aud.get(f"/api/v1/items/{a}/custody").json()
    assert events[-1]["kind"] == "fixity_failed" and events[-1]["details"]["problem"] == "mismatch"


def test_health_answers_when_the_count_cannot_be_made(make_settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    r = TestClient(create_app(make_settings(), migrate_db=False)).get("/healthz")
    assert r.status_code == 200 and r.json()["fixity"]["items_in_alarm"] is None
