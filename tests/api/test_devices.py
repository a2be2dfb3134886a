"""Recorders' assignments through the API: administrators list them and assign a recorder to an
officer (a device_assigned custody event naming them); everyone else is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from evidence.models import CustodyEvent
from evidence.unit_of_work import transaction
from tests.api.conftest import denials


def test_an_admin_assigns_a_recorder_and_the_history_shows_it(world):
    adm, rt = world["clients"]["adm"], world["rt"]
    listed = adm.get("/api/v1/devices")
    assert listed.status_code == 200, listed.text
    assert [(a["serial"], a["officer_id"], a["unit"], a["until"]) for a in listed.json()] == [
        ("ZFY0001", "110001", "U1", None),
        ("ZFY0002", "220002", "U2", None),
    ]
    since = datetime.now(UTC) - timedelta(minutes=5)
    r = adm.post(
        "/api/v1/devices/ZFY0001/assignments", json={"officer_id": "110007", "unit": "U1", "since": since.isoformat()}
    )
    assert r.status_code == 201, r.text
    assert r.json()["officer_id"] == "110007" and r.json()["until"] is None
    history = adm.get("/api/v1/devices", params={"serial": "ZFY0001"}).json()
    assert [a["officer_id"] for a in history] == ["110001", "110007"]
    assert history[0]["until"] == history[1]["since"]
    with transaction(rt.sessions) as session:
        [event] = session.scalars(select(CustodyEvent).where(CustodyEvent.kind == "device_assigned")).all()
        details, agent = json.loads(event.details), event.agent
    assert details == {**details, "serial": "ZFY0001", "officer_id": "110007", "unit": "U1"}
    assert "user=adm" in agent and "via=api" in agent

    new = adm.post("/api/v1/devices/ZFY0100/assignments", json={"officer_id": "330001"})
    assert new.status_code == 201 and new.json()["unit"] is None
    # assignments are added in time order; a time needs its zone; an officer is needed
    earlier = adm.post("/api/v1/devices/ZFY0001/assignments", json={"officer_id": "1", "since": "2020-01-01T00:00:00Z"})
    assert earlier.status_code == 422
    naive = adm.post("/api/v1/devices/ZFY0003/assignments", json={"officer_id": "1", "since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert adm.post("/api/v1/devices/ZFY0003/assignments", json={"officer_id": ""}).status_code == 422
    assert adm.post("/api/v1/devices/ZFY0003/assignments", json={"officer_id": " "}).status_code == 422


def test_only_admins_see_and_assign_recorders(world):
    c, rt = world["clients"], world["rt"]
    for name in ("sup1", "aud", "rev1", "off1"):
        assert c[name].get("/api/v1/devices").status_code == 403
        refused = c[name].post("/api/v1/devices/ZFY0002/assignments", json={"officer_id": "110001"})
        assert refused.status_code == 403
    assert len(denials(rt, "list_devices")) == 4 and len(denials(rt, "assign_device")) == 4
    assert [a["officer_id"] for a in c["adm"].get("/api/v1/devices", params={"serial": "ZFY0002"}).json()] == ["220002"]


def test_an_assignment_time_beyond_the_calendar_in_utc_is_refused(world):
    r = world["clients"]["adm"].post(
        "/api/v1/devices/ZFY0007/assignments", json={"officer_id": "110001", "since": "9999-12-31T23:59:59-12:00"}
    )
    assert r.status_code == 422 and "since" in r.json()["error"]["message"]
