"""Excuses through the API, on crafted recordings with known answers: item and window excuses
(by officer and by recorder), revoking, who may (each refusal a custody event), who sees the list."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from evidence import users
from evidence.custody import EventKind
from evidence.models import CustodyEvent, Excuse
from evidence.unit_of_work import transaction
from tests.evidence.reporting import recording, utc

DEC = {"from": "2027-12-01", "to": "2027-12-31"}
U2 = {"officer": "220002", "unit": "U2", "device": "ZFY0002"}


def supervisor_of_u2(world) -> TestClient:
    """A signed-in supervisor of the other unit (the world has only U1's)."""
    with transaction(world["rt"].sessions) as s:
        user, password = users.add_user(s, "sup2", ["supervisor"], "U2")
        user.must_change_password = False
    client = TestClient(world["app"])
    r = client.post("/api/v1/auth/token", data={"username": "sup2", "password": password})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


def report(world) -> dict[int, dict]:
    r = world["clients"]["aud"].get("/api/v1/reports/deadlines", params=DEC)
    assert r.status_code == 200, r.text
    return {i["id"]: i for i in r.json()["late_items"]}


def excused(world) -> set[int]:
    return {i for i, row in report(world).items() if row["excused"]}


def custody(world, kind: str) -> list[CustodyEvent]:
    with transaction(world["rt"].sessions) as s:
        return list(s.scalars(select(CustodyEvent).where(CustodyEvent.kind == kind).order_by(CustodyEvent.seq)))


def refusals(world) -> list[tuple[int | None, str, str]]:
    """The access_denied events: (item id, action, who)."""
    out = []
    for event in custody(world, EventKind.ACCESS_DENIED.value):
        who = event.agent.split(";")[0].removeprefix("user=")
        out.append((event.item_id, json.loads(event.details)["action"], who))
    return out


def excuse_rows(world) -> dict[int, dict]:
    with transaction(world["rt"].sessions) as s:
        return {e.id: {c.key: getattr(e, c.key) for c in Excuse.__table__.columns} for e in s.scalars(select(Excuse))}


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_an_item_excuse_applies_then_is_revoked(world):
    with transaction(world["rt"].sessions) as s:
        late = recording(s, utc(2027, 12, 2), late_s=1).id
        on_time = recording(s, utc(2027, 12, 3), late_s=0).id
    c = world["clients"]
    r = c["sup1"].post(f"/api/v1/items/{late}/excuses", json={"reason": "recorder battery died"})
    assert r.status_code == 201, r.text
    excuse = r.json()
    assert excuse == {
        "id": excuse["id"],
        "item_id": late,
        "officer_id": None,
        "device_serial": None,
        "from": None,
        "to": None,
        "reason": "recorder battery died",
        "approved_by": "sup1",
        "approved_at": excuse["approved_at"],
        "active": True,
        "revoked_at": None,
        "revoked_by": None,
        "revoke_reason": None,
    }
    assert excused(world) == {late}
    assert (report(world)[late]["excuse_reason"], report(world)[late]["excused_by"]) == (
        "recorder battery died",
        "sup1",
    )
    refused = c["sup1"].post(f"/api/v1/items/{on_time}/excuses", json={"reason": "nothing to excuse"})
    assert refused.status_code == 409 and "on time" in refused.json()["error"]["message"]
    again = c["sup1"].post(f"/api/v1/items/{late}/excuses", json={"reason": "once more"})
    assert again.status_code == 409 and f"already excused (excuse {excuse['id']})" in again.json()["error"]["message"]
    assert c["sup1"].post(f"/api/v1/items/{late}/excuses", json={"reason": "no"}).status_code == 422
    [event] = custody(world, EventKind.LATENESS_EXCUSED.value)
    assert event.item_id == late and "user=sup1" in event.agent
    assert json.loads(event.details)["excuse_id"] == excuse["id"]

    before = excuse_rows(world)
    url = f"/api/v1/excuses/{excuse['id']}/revoke"
    assert c["sup1"].post(url, json={}).status_code == 422  # a reason is required
    r = c["sup1"].post(url, json={"reason": "not ill after all"})
    assert r.status_code == 200, r.text
    revoked = r.json()
    assert (revoked["active"], revoked["revoked_by"], revoked["revoke_reason"]) == (False, "sup1", "not ill after all")
    assert {k: v for k, v in revoked.items() if not k.startswith("revoke")} == {
        **{k: v for k, v in excuse.items() if not k.startswith("revoke")},
        "active": False,
    }
    after = excuse_rows(world)[excuse["id"]]
    unchanged = {k for k in after if not k.startswith("revoke")}
    assert {k: after[k] for k in unchanged} == {k: before[excuse["id"]][k] for k in unchanged}
    assert after["revoked_at"] is not None and before[excuse["id"]]["revoked_at"] is None
    late_again = report(world)[late]
    assert (late_again["excused"], late_again["excuse_reason"], late_again["excused_by"]) == (False, None, None)
    [event] = custody(world, EventKind.EXCUSE_REVOKED.value)
    assert event.item_id == late and "user=sup1" in event.agent
    assert json.loads(event.details) == {"excuse_id": excuse["id"], "by": "sup1", "reason": "not ill after all"}
    assert c["sup1"].post(url, json={"reason": "twice"}).status_code == 409
    assert c["sup1"].post("/api/v1/excuses/999999/revoke", json={"reason": "none such"}).status_code == 404
    # revoked, it no longer stands in the way of a new one
    assert c["sup1"].post(f"/api/v1/items/{late}/excuses", json={"reason": "battery after all"}).status_code == 201


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
@pytest.mark.parametrize("named", [{"officer_id": "110001"}, {"device_serial": "ZFY0001"}], ids=["officer", "device"])
def test_a_window_excuse_covers_from_its_start_to_before_its_end(world, named):
    with transaction(world["rt"].sessions) as s:
        before = recording(s, utc(2027, 12, 9, 15, 59, 59), late_s=100).id
        at_start = recording(s, utc(2027, 12, 9, 16), late_s=200).id
        inside = recording(s, utc(2027, 12, 10, 12), late_s=300).id
        at_end = recording(s, utc(2027, 12, 10, 16), late_s=400).id
        on_time = recording(s, utc(2027, 12, 10, 13), late_s=-1).id
        other_unit = recording(s, utc(2027, 12, 10, 12), late_s=500, **U2).id
    window = {**named, "from": "2027-12-10T00:00:00+08:00", "to": "2027-12-11T00:00:00+08:00", "reason": "typhoon"}
    r = world["clients"]["sup1"].post("/api/v1/excuses", json=window)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["from"], body["to"], body["item_id"], body["active"]) == (
        "2027-12-09T16:00:00Z",
        "2027-12-10T16:00:00Z",
        None,
        True,
    )
    assert {k: body[k] for k in ("officer_id", "device_serial")} == {
        "officer_id": None,
        "device_serial": None,
        **named,
    }
    assert body["late_items_now"] == [at_start, inside]
    assert excused(world) == {at_start, inside}
    assert on_time not in report(world) and {before, at_end, other_unit} <= set(report(world))
    # a recording arriving later into the window is covered too (one ending at its end is not)
    with transaction(world["rt"].sessions) as s:
        later = recording(s, utc(2027, 12, 10, 15, 59, 59), late_s=7 * 86400).id
        later_at_end = recording(s, utc(2027, 12, 10, 16), late_s=7 * 86400).id
    assert excused(world) == {at_start, inside, later}
    assert report(world)[later]["excuse_reason"] == "typhoon" and not report(world)[later_at_end]["excused"]

    [event] = custody(world, EventKind.LATENESS_EXCUSED.value)
    details = json.loads(event.details)
    assert event.item_id is None and "user=sup1" in event.agent
    assert details == {
        "excuse_id": body["id"],
        **named,
        "from": "2027-12-09T16:00:00Z",
        "to": "2027-12-10T16:00:00Z",
        "by": "sup1",
        "reason": "typhoon",
        "late_items_now": [at_start, inside],
    }
    r = world["clients"]["sup1"].post(f"/api/v1/excuses/{body['id']}/revoke", json={"reason": "roads were open"})
    assert r.status_code == 200, r.text
    assert excused(world) == set()
    [event] = custody(world, EventKind.EXCUSE_REVOKED.value)
    assert event.item_id is None and json.loads(event.details)["excuse_id"] == body["id"]


def test_only_a_supervisor_of_the_unit_may_excuse_and_revoke(world):
    with transaction(world["rt"].sessions) as s:
        late = recording(s, utc(2027, 12, 2), late_s=600).id
        other = recording(s, utc(2027, 12, 2), late_s=600, **U2).id
    c, sup2 = world["clients"], supervisor_of_u2(world)
    window = {"officer_id": "110001", "from": "2027-12-01T00:00:00Z", "to": "2027-12-03T00:00:00Z", "reason": "flood"}
    item_url = f"/api/v1/items/{late}/excuses"

    # another unit's supervisor: the item is hidden from them (404), the window refused (403)
    assert sup2.post(item_url, json={"reason": "not mine"}).status_code == 404
    assert sup2.post("/api/v1/excuses", json=window).status_code == 403
    assert refusals(world) == [(late, "view_metadata", "sup2"), (None, "excuse", "sup2")]
    # an officer (their own recording), a reviewer of the unit, an auditor: 403
    for name in ("off1", "rev1", "aud"):
        assert c[name].post(item_url, json={"reason": "not a supervisor"}).status_code == 403, name
        assert c[name].post("/api/v1/excuses", json=window).status_code == 403, name
    assert refusals(world)[2:] == [
        (late, "excuse", "off1"),
        (None, "excuse", "off1"),
        (late, "excuse", "rev1"),
        (None, "excuse", "rev1"),
        (late, "excuse", "aud"),
        (None, "excuse", "aud"),
    ]
    assert custody(world, EventKind.LATENESS_EXCUSED.value) == [] and excused(world) == set()

    # the unit's supervisor may; so may the other's, for theirs
    item_excuse = c["sup1"].post(item_url, json={"reason": "battery"})
    window_excuse = c["sup1"].post("/api/v1/excuses", json=window)
    assert (item_excuse.status_code, window_excuse.status_code) == (201, 201)
    assert sup2.post(f"/api/v1/items/{other}/excuses", json={"reason": "theirs"}).status_code == 201
    assert excused(world) == {late, other}

    denied = len(refusals(world))
    item_revoke = f"/api/v1/excuses/{item_excuse.json()['id']}/revoke"
    window_revoke = f"/api/v1/excuses/{window_excuse.json()['id']}/revoke"
    assert sup2.post(item_revoke, json={"reason": "not mine"}).status_code == 404
    assert sup2.post(window_revoke, json={"reason": "not mine"}).status_code == 403
    for name in ("off1", "rev1", "aud"):
        assert c[name].post(item_revoke, json={"reason": "not a supervisor"}).status_code == 403, name
        assert c[name].post(window_revoke, json={"reason": "not a supervisor"}).status_code == 403, name
    assert refusals(world)[denied:] == [
        (late, "view_metadata", "sup2"),
        (None, "revoke_excuse", "sup2"),
        (late, "revoke_excuse", "off1"),
        (None, "revoke_excuse", "off1"),
        (late, "revoke_excuse", "rev1"),
        (None, "revoke_excuse", "rev1"),
        (late, "revoke_excuse", "aud"),
        (None, "revoke_excuse", "aud"),
    ]
    assert custody(world, EventKind.EXCUSE_REVOKED.value) == [] and excused(world) == {late, other}
    sup2.close()


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_supervisors_list_their_units_excuses_auditors_all(world):
    with transaction(world["rt"].sessions) as s:
        late = recording(s, utc(2027, 12, 2), late_s=600).id
        other = recording(s, utc(2027, 12, 2), late_s=600, **U2).id
    c, sup2 = world["clients"], supervisor_of_u2(world)
    span = {"from": "2027-12-01T00:00:00Z", "to": "2027-12-03T00:00:00Z"}

    def made(client, url, body):
        r = client.post(url, json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    ids = [
        made(c["sup1"], f"/api/v1/items/{late}/excuses", {"reason": "battery"}),
        made(c["sup1"], "/api/v1/excuses", {**span, "officer_id": "110001", "reason": "flood"}),
        made(c["sup1"], "/api/v1/excuses", {**span, "device_serial": "ZFY0001", "reason": "dock"}),
        made(sup2, f"/api/v1/items/{other}/excuses", {"reason": "theirs"}),
        made(sup2, "/api/v1/excuses", {**span, "device_serial": "ZFY0002", "reason": "theirs too"}),
    ]
    assert c["sup1"].post(f"/api/v1/excuses/{ids[1]}/revoke", json={"reason": "roads open"}).status_code == 200

    def listed(client, **params):
        r = client.get("/api/v1/excuses", params=params)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()]

    assert listed(c["aud"]) == ids[::-1]
    assert listed(c["sup1"]) == ids[2::-1]
    assert listed(sup2) == ids[:2:-1]
    assert listed(c["sup1"], active=True) == [ids[2], ids[0]] and listed(c["sup1"], active=False) == [ids[1]]
    assert listed(c["sup1"], item=other) == [] and listed(c["aud"], item=other) == [ids[3]]
    assert listed(c["aud"], officer="110001") == [ids[1]] and listed(c["aud"], device="ZFY0002") == [ids[4]]
    for name in ("off1", "rev1", "adm"):
        assert c[name].get("/api/v1/excuses").status_code == 403, name
    assert [action for _, action, _ in refusals(world)] == ["list_excuses"] * 3
    sup2.close()
