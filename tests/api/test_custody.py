"""Searching custody events across the system: auditors all, supervisors their unit, filtered and paged."""

from __future__ import annotations

import pytest


def search(client, **params):
    r = client.get("/api/v1/custody/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_auditors_search_everything_with_filters_and_pages(world):
    c, a, b = world["clients"], world["ids"]["a"], world["ids"]["b"]
    aud = c["aud"]
    case = c["sup1"].post("/api/v1/cases", json={"number": "C-1", "title": "t"}).json()
    assert c["sup1"].post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "why"}).status_code == 201
    assert c["off2"].get(f"/api/v1/items/{a}").status_code == 404  # a refusal, recorded

    everything = search(aud, limit=1000)["events"]
    assert {e["item_id"] for e in everything} >= {a, b} and [e["seq"] for e in everything] == sorted(
        e["seq"] for e in everything
    )
    assert [e["kind"] for e in search(aud, kind="linked")["events"]] == ["linked"]
    (denied,) = search(aud, kind="access_denied", user="off2")["events"]
    assert denied["item_id"] == a and denied["details"]["action"] == "view_metadata"
    assert search(aud, user="off1")["events"] == []  # users are matched exactly, not by prefix
    assert {e["item_id"] for e in search(aud, item=b)["events"]} == {b}
    assert [e["kind"] for e in search(aud, case=case["id"])["events"]] == ["case_opened", "linked"]
    linked_at = search(aud, kind="linked")["events"][0]["occurred_at"]
    assert search(aud, **{"from": "2000-01-01T00:00:00Z", "to": linked_at})["events"][-1]["kind"] != "linked"
    assert [e["kind"] for e in search(aud, **{"from": linked_at, "kind": "linked"})["events"]] == ["linked"]
    assert search(aud, **{"from": "2999-01-01T00:00:00+08:00"})["events"] == []

    pages, cursor = [], None
    while True:
        page = search(aud, limit=7, **({"cursor": cursor} if cursor else {}))
        pages.append(page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["seq"] for p in pages for e in p] == [e["seq"] for e in everything]
    assert all(len(p) == 7 for p in pages[:-1]) and len(pages) > 2


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_supervisors_search_their_unit_only(world):
    c, a, b = world["clients"], world["ids"]["a"], world["ids"]["b"]
    case = c["sup1"].post("/api/v1/cases", json={"number": "C-1", "title": "t"}).json()
    seen = search(c["sup1"], limit=1000)["events"]
    assert {e["item_id"] for e in seen} == {a, None} and b not in {e["item_id"] for e in seen}
    assert all(e["item_id"] == a or e["case_id"] == case["id"] for e in seen)
    assert search(c["sup1"], item=b)["events"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "nope"},
        {"user": "nobody"},
        {"item": 999},
        {"case": 999},
        {"item": 2**63},
        {"from": "2026-11-01T07:00:00"},
        {"from": "yesterday"},
        {"to": "9999-12-31T23:00:00-05:00"},
        {"cursor": "bm9wZQ"},
        {"limit": 0},
        {"limit": 1001},
    ],
)
def test_bad_search_parameters_are_422_json(world, params):
    r = world["clients"]["aud"].get("/api/v1/custody/events", params=params)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
