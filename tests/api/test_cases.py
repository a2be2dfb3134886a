"""Case files, reviewer assignment, links, marks and grants, each authorised and in the custody log."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import events


def open_case(world, number="C-2026-001", by="rev1"):
    r = world["clients"][by].post("/api/v1/cases", json={"number": number, "title": "Street vendor obstruction"})
    assert r.status_code == 201, r.text
    return r.json()


def test_open_case_rules(world):
    case = open_case(world)
    assert case["unit"] == "U1" and case["status"] == "open" and case["item_ids"] == []
    dup = world["clients"]["sup1"].post("/api/v1/cases", json={"number": "C-2026-001", "title": "x"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "conflict"
    assert world["clients"]["off1"].post("/api/v1/cases", json={"number": "C-9", "title": "x"}).status_code == 403
    assert world["clients"]["rev1"].post("/api/v1/cases", json={"number": "", "title": "x"}).status_code == 422


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_link_is_a_custody_event_on_item_and_case(world):
    a, b = world["ids"]["a"], world["ids"]["b"]
    rev1 = world["clients"]["rev1"]
    case = open_case(world)
    r = rev1.post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "shows the obstruction"})
    assert r.status_code == 201 and r.json()["item_ids"] == [a]
    (event,) = events(world["rt"], a, "linked")
    assert event.case_id == case["id"] and json.loads(event.details)["reason"] == "shows the obstruction"
    case_log = rev1.get(f"/api/v1/cases/{case['id']}/custody").json()
    assert [e["kind"] for e in case_log] == ["case_opened", "linked"]
    assert case_log[1]["seq"] == event.seq  # the very same event in both logs
    assert rev1.get(f"/api/v1/items/{a}").json()["cases"] == ["C-2026-001"]
    again = rev1.post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "again"})
    assert again.status_code == 409
    other_unit = rev1.post(f"/api/v1/cases/{case['id']}/items", json={"item_id": b, "reason": "not ours"})
    assert other_unit.status_code == 404 and len(events(world["rt"], b, "access_denied")) == 1
    listed = world["clients"]["aud"].get("/api/v1/items", params={"case": "C-2026-001"}).json()["items"]
    assert [i["id"] for i in listed] == [a]
    short = rev1.delete(f"/api/v1/cases/{case['id']}/items/{a}", params={"reason": "x"})
    assert short.status_code == 422
    assert rev1.delete(f"/api/v1/cases/{case['id']}/items/{a}", params={"reason": "wrong clip"}).status_code == 204
    assert rev1.get(f"/api/v1/cases/{case['id']}").json()["item_ids"] == []
    assert [e.kind for e in events(world["rt"], a, "unlinked")] == ["unlinked"]


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_assigned_reviewer_of_another_unit_reviews_the_case_footage(world):
    a = world["ids"]["a"]
    c = world["clients"]
    case = open_case(world)
    c["rev1"].post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "evidence"})
    assert c["rev3"].get(f"/api/v1/items/{a}").status_code == 404
    assert c["rev3"].get(f"/api/v1/cases/{case['id']}").status_code == 404
    assert c["rev1"].post(f"/api/v1/cases/{case['id']}/reviewers", json={"username": "rev3"}).status_code == 403
    assert c["sup1"].post(f"/api/v1/cases/{case['id']}/reviewers", json={"username": "off1"}).status_code == 422
    r = c["sup1"].post(f"/api/v1/cases/{case['id']}/reviewers", json={"username": "rev3"})
    assert r.status_code == 200 and r.json()["reviewers"] == ["rev3"]
    assert c["rev3"].get(f"/api/v1/items/{a}").status_code == 200
    assert c["rev3"].get(f"/api/v1/items/{a}/proxy", headers={"Range": "bytes=0-9"}).status_code == 206
    assert c["rev3"].get(f"/api/v1/items/{a}/original", params={"reason": "prosecutor asked"}).status_code == 200
    assert [i["id"] for i in c["rev3"].get("/api/v1/items").json()["items"]] == [a]
    assert [x["number"] for x in c["rev3"].get("/api/v1/cases").json()] == ["C-2026-001"]
    # closing the case freezes its links; unlinking ends the outside reviewer's access
    closed = c["sup1"].patch(f"/api/v1/cases/{case['id']}", json={"status": "closed"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert c["rev1"].delete(f"/api/v1/cases/{case['id']}/items/{a}", params={"reason": "tidy"}).status_code == 403
    c["sup1"].patch(f"/api/v1/cases/{case['id']}", json={"status": "open"})
    assert c["rev1"].delete(f"/api/v1/cases/{case['id']}/items/{a}", params={"reason": "tidy"}).status_code == 204
    assert c["rev3"].get(f"/api/v1/items/{a}").status_code == 404
    kinds = [e["kind"] for e in c["aud"].get(f"/api/v1/cases/{case['id']}/custody").json()]
    assert [k for k in kinds if k != "access_denied"] == [
        "case_opened",
        "linked",
        "reviewer_assigned",
        "case_updated",
        "case_updated",
        "unlinked",
    ]
    assert kinds.count("access_denied") == 3  # rev3 before assignment, rev1 assigning, rev1 on the closed case
    assert c["adm"].get(f"/api/v1/cases/{case['id']}").status_code == 404


def test_marks(world):
    a = world["ids"]["a"]
    rev1 = world["clients"]["rev1"]
    r = rev1.post(f"/api/v1/items/{a}/marks", json={"kind": "important"})
    assert r.status_code == 201 and r.json()["kind"] == "important"
    assert rev1.post(f"/api/v1/items/{a}/marks", json={"kind": "important"}).status_code == 409
    assert rev1.post(f"/api/v1/items/{a}/marks", json={"kind": "tag"}).status_code == 422
    assert rev1.post(f"/api/v1/items/{a}/marks", json={"kind": "stars"}).status_code == 422
    tag = rev1.post(f"/api/v1/items/{a}/marks", json={"kind": "tag", "value": "占道经营"}).json()
    assert world["clients"]["off1"].post(f"/api/v1/items/{a}/marks", json={"kind": "important"}).status_code == 403
    marks = rev1.get(f"/api/v1/items/{a}").json()["marks"]
    assert [(m["kind"], m["value"]) for m in marks] == [("important", None), ("tag", "占道经营")]
    aud = world["clients"]["aud"]
    assert [i["id"] for i in aud.get("/api/v1/items", params={"mark": "important"}).json()["items"]] == [a]
    assert [i["id"] for i in aud.get("/api/v1/items", params={"mark": "占道经营"}).json()["items"]] == [a]
    assert rev1.delete(f"/api/v1/items/{a}/marks/{tag['id']}").status_code == 204
    assert rev1.delete(f"/api/v1/items/{a}/marks/{tag['id']}").status_code == 404
    assert [e.kind for e in events(world["rt"], a, "marked")] == ["marked", "marked"]
    assert len(events(world["rt"], a, "unmarked")) == 1


def test_grants_open_another_units_recording_with_a_reason(world):
    a = world["ids"]["a"]
    c = world["clients"]
    assert c["aud"].get(f"/api/v1/items/{a}/proxy").status_code == 403
    assert c["rev1"].post(f"/api/v1/items/{a}/grants", json={"username": "aud", "reason": "audit"}).status_code == 403
    assert c["sup1"].post(f"/api/v1/items/{a}/grants", json={"username": "aud"}).status_code == 422
    assert c["sup1"].post(f"/api/v1/items/{a}/grants", json={"username": "ghost", "reason": "audit"}).status_code == 404
    r = c["sup1"].post(f"/api/v1/items/{a}/grants", json={"username": "aud", "reason": "quarterly audit"})
    assert r.status_code == 201
    assert c["aud"].get(f"/api/v1/items/{a}/proxy").status_code == 200
    assert c["aud"].get(f"/api/v1/items/{a}/original", params={"reason": "look"}).status_code == 403
    c["sup1"].post(f"/api/v1/items/{a}/grants", json={"username": "rev2", "reason": "joint operation"})
    assert c["rev2"].get(f"/api/v1/items/{a}/original", params={"reason": "joint operation"}).status_code == 200
    (grant, _) = events(world["rt"], a, "access_granted")
    assert json.loads(grant.details) == {"grant_id": 1, "to": "aud", "to_unit": "U9", "reason": "quarterly audit"}
