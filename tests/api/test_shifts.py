"""POST/GET /api/v1/shifts: who may record and list shifts; overlaps are 409."""

from __future__ import annotations

import pytest

from tests.api.conftest import denials

DAY = {"officer_id": "110001", "from": "2026-11-20T08:00:00+08:00", "to": "2026-11-20T18:00:00+08:00"}


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_add_and_list_shifts(world):
    c = world["clients"]
    r = c["sup1"].post("/api/v1/shifts", json=DAY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["from"] == "2026-11-20T00:00:00Z" and body["to"] == "2026-11-20T10:00:00Z"
    assert body["hours"] == 10.0 and body["source"] == "api" and body["created_by"] == "sup1"
    overlap = c["sup1"].post(
        "/api/v1/shifts", json={**DAY, "from": "2026-11-20T17:00:00+08:00", "to": "2026-11-21T01:00:00+08:00"}
    )
    assert overlap.status_code == 409 and "overlaps" in overlap.json()["error"]["message"]
    night = {"officer_id": "220002", "from": "2026-11-20T10:00:00Z", "to": "2026-11-20T20:00:00Z"}
    assert c["adm"].post("/api/v1/shifts", json=night).status_code == 201

    def officers(name, **params):
        r = c[name].get("/api/v1/shifts", params=params)
        assert r.status_code == 200, r.text
        return [s["officer_id"] for s in r.json()]

    assert officers("aud") == ["110001", "220002"] and officers("adm") == ["110001", "220002"]
    assert officers("sup1") == ["110001"]
    assert officers("off1") == ["110001"] and officers("off2") == ["220002"]
    assert officers("aud", officer="220002") == ["220002"]
    assert officers("aud", **{"from": "2026-11-20T15:00:00Z"}) == ["220002"]
    assert officers("aud", **{"to": "2026-11-20T05:00:00Z"}) == ["110001"]
    assert c["rev1"].get("/api/v1/shifts").status_code == 403


@pytest.mark.parametrize("world", ["file"], indirect=True)
def test_who_may_add_shifts(world):
    c = world["clients"]
    for name in ("off1", "rev1", "aud"):
        assert c[name].post("/api/v1/shifts", json=DAY).status_code == 403
    other_unit = {**DAY, "officer_id": "220002"}
    refused = c["sup1"].post("/api/v1/shifts", json=other_unit)
    assert refused.status_code == 403 and "not of your unit" in refused.json()["error"]["message"]
    recorded = denials(world["rt"], "add_shift")
    assert len(recorded) == 4 and recorded[-1]["officer_id"] == "220002"


@pytest.mark.parametrize(
    "change",
    [
        {"from": "2026-11-20T08:00:00"},  # no zone
        {"to": "2026-11-20T07:00:00+08:00"},  # before from
        {"officer_id": ""},
        {"from": "yesterday"},
    ],
)
def test_bad_shifts_are_422(world, change):
    r = world["clients"]["sup1"].post("/api/v1/shifts", json={**DAY, **change})
    assert r.status_code == 422, r.text
