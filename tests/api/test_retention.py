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
