"""The deadline report and excuses through the API: role checks, formats, excuses shown in reports."""

from __future__ import annotations

import csv
import io
import json

import pytest

from evidence.custody import EventKind
from evidence.unit_of_work import transaction
from tests.api.conftest import denials, events
from tests.evidence.reporting import recording, utc

NOV = {"from": "2027-11-01", "to": "2027-11-30"}


def craft(world) -> dict[str, int]:
    with transaction(world["rt"].sessions) as s:
        return {
            "u1_late": recording(s, utc(2027, 11, 2), late_s=600).id,
            "u1_on_time": recording(s, utc(2027, 11, 3), late_s=0).id,
            "u2_late": recording(s, utc(2027, 11, 4), late_s=60, officer="220002", unit="U2", device="ZFY0002").id,
        }


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_report_by_role_and_format(world):
    craft(world)
    c = world["clients"]
    r = c["aud"].get("/api/v1/reports/deadlines", params={**NOV, "group_by": "unit"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"from", "to", "group_by", "groups", "late_items", "doubtful_items"}
    assert body["from"] == "2027-11-01" and body["group_by"] == "unit"
    units = {g["key"]: g for g in body["groups"]}
    assert (units["U1"]["on_time"], units["U1"]["late"], units["U1"]["max_late_s"]) == (1, 1, 600.0)
    assert units["U2"]["late"] == 1 and units["U1"]["compliance_rate"] == 0.5
    mine = c["sup1"].get("/api/v1/reports/deadlines", params={**NOV, "group_by": "unit"}).json()
    assert [g["key"] for g in mine["groups"]] == ["U1"] and {i["unit"] for i in mine["late_items"]} == {"U1"}
    text = c["aud"].get("/api/v1/reports/deadlines", params={**NOV, "format": "csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert {r["key"]: r["late"] for r in rows} == {"110001": "1", "220002": "1"}
    table = c["aud"].get("/api/v1/reports/deadlines", params={**NOV, "format": "table", "group_by": "day"})
    assert table.headers["content-type"].startswith("text/plain") and "2027-11-02" in table.text
    bare = c["aud"].get("/api/v1/reports/deadlines", params={**NOV, "items": False}).json()
    assert bare["late_items"] is None and bare["groups"]
    for who in ("rev1", "off1", "adm"):
        before = len(denials(world["rt"], "deadline_report"))
        refused = c[who].get("/api/v1/reports/deadlines", params=NOV)
        assert refused.status_code == 403, refused.text
        assert len(denials(world["rt"], "deadline_report")) == before + 1
    assert (
        c["aud"].get("/api/v1/reports/deadlines", params={"from": "2027-11-30", "to": "2027-11-01"}).status_code == 422
    )
    assert (
        c["aud"].get("/api/v1/reports/deadlines", params={"from": "9999-12-31", "to": "9999-12-31"}).status_code == 422
    )
    assert c["aud"].get("/api/v1/reports/deadlines", params={**NOV, "group_by": "shoe"}).status_code == 422


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_excuses_by_a_supervisor_show_in_reports_and_can_be_revoked(world):
    ids = craft(world)
    c, rt = world["clients"], world["rt"]
    url = f"/api/v1/items/{ids['u1_late']}/excuses"
    r = c["sup1"].post(url, json={"reason": "recorder battery died"})
    assert r.status_code == 201, r.text
    excuse = r.json()
    assert excuse["approved_by"] == "sup1" and excuse["active"] and excuse["item_id"] == ids["u1_late"]
    [event] = events(rt, ids["u1_late"], EventKind.LATENESS_EXCUSED.value)
    assert json.loads(event.details)["reason"] == "recorder battery died" and "user=sup1" in event.agent
    again = c["sup1"].post(url, json={"reason": "once more"})
    assert again.status_code == 409 and "already excused" in again.json()["error"]["message"]
    on_time = c["sup1"].post(f"/api/v1/items/{ids['u1_on_time']}/excuses", json={"reason": "nothing to excuse"})
    assert on_time.status_code == 409 and "on time" in on_time.json()["error"]["message"]
    assert c["sup1"].post(f"/api/v1/items/{ids['u2_late']}/excuses", json={"reason": "other unit"}).status_code == 404
    assert c["aud"].post(url, json={"reason": "an auditor"}).status_code == 403
    assert c["rev1"].post(url, json={"reason": "a reviewer"}).status_code == 403
    assert len(denials(rt, "excuse")) == 2  # the hidden one is refused as view_metadata

    late = {i["id"]: i for i in c["aud"].get("/api/v1/reports/deadlines", params=NOV).json()["late_items"]}
    assert late[ids["u1_late"]]["excused"] and late[ids["u1_late"]]["excuse_reason"] == "recorder battery died"
    assert late[ids["u1_late"]]["excused_by"] == "sup1"

    window = {"officer_id": "220002", "from": "2027-11-04T00:00:00Z", "to": "2027-11-05T00:00:00Z", "reason": "flood"}
    assert c["sup1"].post("/api/v1/excuses", json=window).status_code == 403
    mine = {**window, "officer_id": "110001", "from": "2027-11-01T00:00:00+08:00"}
    r = c["sup1"].post("/api/v1/excuses", json=mine)
    assert r.status_code == 201, r.text
    assert r.json()["late_items_now"] == [ids["u1_late"]] and r.json()["from"] == "2027-10-31T16:00:00Z"
    both = {**mine, "device_serial": "ZFY0001"}
    assert c["sup1"].post("/api/v1/excuses", json=both).status_code == 422
    naive = {**mine, "from": "2027-11-01T00:00:00"}
    assert c["sup1"].post("/api/v1/excuses", json=naive).status_code == 422

    listed = c["aud"].get("/api/v1/excuses").json()
    assert [e["id"] for e in listed] == [r.json()["id"], excuse["id"]]
    assert c["rev1"].get("/api/v1/excuses").status_code == 403
    revoked = c["sup1"].post(f"/api/v1/excuses/{excuse['id']}/revoke", json={"reason": "not ill after all"})
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert revoked.json()["revoked_by"] == "sup1"
    assert len(events(rt, ids["u1_late"], EventKind.EXCUSE_REVOKED.value)) == 1
    twice = c["sup1"].post(f"/api/v1/excuses/{excuse['id']}/revoke", json={"reason": "again"})
    assert twice.status_code == 409
    assert c["sup1"].post("/api/v1/excuses/999999/revoke", json={"reason": "none such"}).status_code == 404
    # the window still excuses it, now with the window's reason
    late = {i["id"]: i for i in c["aud"].get("/api/v1/reports/deadlines", params=NOV).json()["late_items"]}
    assert late[ids["u1_late"]]["excuse_reason"] == "flood"
    assert [e["active"] for e in c["sup1"].get("/api/v1/excuses", params={"item": ids["u1_late"]}).json()] == [False]
