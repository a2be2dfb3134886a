"""Unattributed footage: kept, marked, listed, never on time, and attributed later by a supervisor."""

from __future__ import annotations

import json
import logging

import pytest

from evidence.custody import EventKind
from ingest import worker
from ingest.pipeline import ingest_file
from tests.api.conftest import events
from tests.media import drop


def root_item(world, tmp_path) -> int:
    """A clip dropped at the root of the upload point, not in a recorder's folder, ingested for real."""
    rt = world["rt"]
    point = rt.settings.points[0]
    loose = tmp_path / "loose.mp4"
    loose.write_bytes(world["clips"]["h264"].read_bytes() + b"no recorder folder")
    result = ingest_file(rt, point, drop(loose, point.path, "loose.mp4"))
    worker.drain(rt, item_ids=[result.item_id])
    return result.item_id


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_root_footage_is_kept_unattributed_and_a_supervisor_attributes_it(world, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ingest.pipeline"):
        item = root_item(world, tmp_path)
    assert any(
        "unattributed" in r.getMessage() and f"evidence attribute {item}" in r.getMessage() for r in caplog.records
    )
    sup, aud = world["clients"]["sup1"], world["clients"]["aud"]
    view = sup.get(f"/api/v1/items/{item}").json()
    assert view["unattributed"] is True and view["device_serial"] is None and view["officer_id"] is None
    assert view["status"] == "ready" and view["on_time"] is None and view["late_by_s"] is None
    assert view["upload_deadline"] is not None
    # found by the filter; never counted on time (nor late: not judged until attributed)
    assert [i["id"] for i in sup.get("/api/v1/items", params={"unattributed": True}).json()["items"]] == [item]
    assert item not in [i["id"] for i in aud.get("/api/v1/items", params={"unattributed": False}).json()["items"]]
    for judged in (True, False):
        assert item not in [i["id"] for i in aud.get("/api/v1/items", params={"on_time": judged}).json()["items"]]
    # a supervisor sees that it exists, not the footage; others of the unit do not see it at all
    assert sup.get(f"/api/v1/items/{item}/proxy").status_code == 403
    assert world["clients"]["rev1"].get(f"/api/v1/items/{item}").status_code == 404
    assert world["clients"]["rev1"].get("/api/v1/items", params={"unattributed": True}).json()["items"] == []

    r = sup.post(f"/api/v1/items/{item}/attribution", json={"device": "ZFY0001", "reason": "docked by 110001"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["device_serial"], done["officer_id"], done["unit"]) == ("ZFY0001", "110001", "U1")
    assert done["unattributed"] is False and done["on_time"] is False and done["late_by_s"] > 0  # Nov 1 clip
    [event] = [e for e in events(world["rt"], item, EventKind.ATTRIBUTED.value) if "by" in json.loads(e.details)]
    details = json.loads(event.details)
    assert details == {
        **details,
        "device_serial": "ZFY0001",
        "officer_id": "110001",
        "unit": "U1",
        "by": "sup1",
        "reason": "docked by 110001",
    }
    assert "user=sup1" in event.agent
    # now the unit's footage like any other
    assert world["clients"]["rev1"].get(f"/api/v1/items/{item}").status_code == 200
    assert world["clients"]["off1"].get(f"/api/v1/items/{item}").status_code == 200
    assert sup.get("/api/v1/items", params={"unattributed": True}).json()["items"] == []
    again = sup.post(f"/api/v1/items/{item}/attribution", json={"device": "ZFY0001", "reason": "once more"})
    assert again.status_code == 409 and "already attributed to recorder ZFY0001" in again.json()["error"]["message"]


def test_only_a_supervisor_of_the_recorders_unit_attributes(world, tmp_path):
    item = root_item(world, tmp_path)
    clients, body = world["clients"], {"device": "ZFY0002", "reason": "looks like unit 2"}
    other_unit = clients["sup1"].post(f"/api/v1/items/{item}/attribution", json=body)
    assert other_unit.status_code == 403 and "not with your unit (U1)" in other_unit.json()["error"]["message"]
    auditor = clients["aud"].post(f"/api/v1/items/{item}/attribution", json=body)
    assert auditor.status_code == 403 and "only a supervisor" in auditor.json()["error"]["message"]
    for name in ("rev1", "off1", "adm"):
        assert clients[name].post(f"/api/v1/items/{item}/attribution", json=body).status_code == 404
    denied = [json.loads(e.details) for e in events(world["rt"], item, EventKind.ACCESS_DENIED.value)]
    assert {d["action"] for d in denied} >= {"attribute"} and len(denied) == 5
    unknown = clients["sup1"].post(f"/api/v1/items/{item}/attribution", json={"device": "ZFY9999", "reason": "x" * 5})
    assert unknown.status_code == 422 and "no officer carried recorder ZFY9999" in unknown.json()["error"]["message"]
    assert clients["sup1"].get(f"/api/v1/items/{item}").json()["unattributed"] is True, "nothing changed"
    assert events(world["rt"], item, EventKind.ATTRIBUTED.value)[-1].outcome == "warning"  # only ingest's


def test_attributed_footage_cannot_be_attributed_again(world):
    r = world["clients"]["sup1"].post(
        f"/api/v1/items/{world['ids']['a']}/attribution", json={"device": "ZFY0001", "reason": "moving it"}
    )
    assert r.status_code == 409 and "already attributed" in r.json()["error"]["message"]
