"""Retention through the API: the item view, the list filter, and legal holds."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_item_view_shows_retention_and_the_list_filters_on_it(world):
    sup = world["clients"]["sup1"]
    a = world["ids"]["a"]
    body = sup.get(f"/api/v1/items/{a}").json()
    assert body["retention"]["class"] == "ordinary"
    assert body["retention"]["keep_until"] is not None and "180 days" in body["retention"]["because"]
    r = sup.post(f"/api/v1/items/{a}/marks", json={"kind": "important"})
    assert r.status_code == 201, r.text
    body = sup.get(f"/api/v1/items/{a}").json()
    assert body["retention"]["class"] == "important"
    listed = sup.get("/api/v1/items", params={"retention_class": "important"}).json()["items"]
    assert [i["id"] for i in listed] == [a] and listed[0]["retention"]["class"] == "important"
    assert sup.get("/api/v1/items", params={"retention_class": "case"}).json()["items"] == []
    assert sup.get("/api/v1/items", params={"retention_class": "nonsense"}).status_code == 422


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_holds_on_items_and_cases_by_supervisors_of_the_unit(world):
    from tests.api.conftest import denials, events

    sup, rev, aud = (world["clients"][n] for n in ("sup1", "rev1", "aud"))
    a, b = world["ids"]["a"], world["ids"]["b"]
    assert sup.post(f"/api/v1/items/{a}/hold", json={"reason": ""}).status_code == 422
    assert rev.post(f"/api/v1/items/{a}/hold", json={"reason": "court order 17"}).status_code == 403
    assert sup.post(f"/api/v1/items/{b}/hold", json={"reason": "court order 17"}).status_code == 404  # U2's
    assert aud.post(f"/api/v1/items/{a}/hold", json={"reason": "court order 17"}).status_code == 403
    assert len(denials(world["rt"], "hold")) == 2  # the hidden one is refused as view_metadata
    r = sup.post(f"/api/v1/items/{a}/hold", json={"reason": "court order 17"})
    assert r.status_code == 201, r.text
    assert r.json()["placed_by"] == "sup1" and r.json()["released_at"] is None
    assert sup.post(f"/api/v1/items/{a}/hold", json={"reason": "again"}).status_code == 409
    body = sup.get(f"/api/v1/items/{a}").json()["retention"]
    assert (body["class"], body["keep_until"], body["because"]) == ("hold", None, "under legal hold (item)")
    assert sup.delete(f"/api/v1/items/{a}/hold").status_code == 422  # the reason is required
    r = sup.delete(f"/api/v1/items/{a}/hold", params={"reason": "order lifted"})
    assert r.status_code == 200 and r.json()["release_reason"] == "order lifted"
    assert sup.delete(f"/api/v1/items/{a}/hold", params={"reason": "order lifted"}).status_code == 404
    assert sup.get(f"/api/v1/items/{a}").json()["retention"]["class"] == "ordinary"
    assert [e.kind for e in events(world["rt"], a, "hold_placed")] == ["hold_placed"]
    assert len(events(world["rt"], a, "hold_released")) == 1

    case = sup.post("/api/v1/cases", json={"number": "2026-031", "title": "t"}).json()
    assert sup.post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "seen"}).status_code == 201
    r = sup.post(f"/api/v1/cases/{case['id']}/hold", json={"reason": "litigation"})
    assert r.status_code == 201 and r.json()["case_number"] == "2026-031"
    assert sup.get(f"/api/v1/items/{a}").json()["retention"]["because"] == "under legal hold (case 2026-031)"
    assert rev.delete(f"/api/v1/cases/{case['id']}/hold", params={"reason": "done"}).status_code == 403
    assert sup.delete(f"/api/v1/cases/{case['id']}/hold", params={"reason": "done"}).status_code == 200
    view = sup.get(f"/api/v1/items/{a}").json()["retention"]
    assert (view["class"], view["because"]) == ("case", "linked to case 2026-031")


def test_purged_media_is_gone_but_metadata_and_custody_stay(world):
    from evidence import sweeper
    from evidence.retention import Rules

    rt, sup = world["rt"], world["clients"]["sup1"]
    a = world["ids"]["a"]
    rules = Rules(retain_days=1)
    kwargs = dict(rules=rules, grace_days=0, agent="test", allow_clock_override=True)
    from datetime import UTC, datetime

    later = datetime(2099, 1, 1, tzinfo=UTC)
    sweeper.sweep(rt.sessions, rt.store, as_of=later, **kwargs)
    assert sup.get(f"/api/v1/items/{a}/proxy").status_code == 200  # expired: still retrievable
    report = sweeper.sweep(rt.sessions, rt.store, as_of=later, **kwargs)
    assert a in [p["id"] for p in report.purged]
    for path in ("proxy", "poster", "original?reason=court"):
        r = sup.get(f"/api/v1/items/{a}/{path}")
        assert r.status_code == 410 and r.json()["error"]["code"] == "gone"
    body = sup.get(f"/api/v1/items/{a}").json()
    assert body["status"] == "purged" and body["retention"]["purged_at"] == "2099-01-01T00:00:00Z"
    kinds = [e["kind"] for e in sup.get(f"/api/v1/items/{a}/custody").json()]
    assert kinds[-3:] == ["expired", "media_viewed", "purged"]
    assert [i["id"] for i in sup.get("/api/v1/items", params={"status": "purged"}).json()["items"]] == [a]
