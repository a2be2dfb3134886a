"""Upload without a dock: streamed to disk, then the same pipeline as docked footage."""

from __future__ import annotations

import hashlib
import os

import pytest

from evidence.models import Item
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from ingest.scan import scan
from tests.api.conftest import denials


def ingest_web_uploads(world):
    rt = world["rt"]
    point = rt.settings.web_point
    results = [ingest_file(rt, point, path) for path in scan(point.path, rt.settings.archive_dirname)]
    worker.drain(rt)
    return results


def test_upload_goes_through_the_pipeline_with_the_uploader_recorded(world, tmp_path):
    data = world["clips"]["h264"].read_bytes() + b"web-upload"
    off1 = world["clients"]["off1"]
    r = off1.post(
        "/api/v1/uploads",
        params={"filename": "现场 01.mp4", "device": "ZFY0001"},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 202, r.text
    ticket = r.json()
    assert ticket["status"] == "queued" and ticket["size_bytes"] == len(data)
    assert ticket["sha256"] == hashlib.sha256(data).hexdigest()
    assert off1.get(f"/api/v1/uploads/{ticket['upload_id']}").json()["status"] == "queued"

    (result,) = ingest_web_uploads(world)
    assert result.outcome == "new"
    status = off1.get(f"/api/v1/uploads/{ticket['upload_id']}").json()
    assert status["status"] == "ingested" and status["item_id"] == result.item_id
    with transaction(world["rt"].sessions) as session:
        item = session.get(Item, result.item_id)
        assert (item.uploaded_by, item.device_serial, item.officer_id, item.station_id) == (
            "off1",
            "ZFY0001",
            "110001",
            "web",
        )
        assert item.sha256 == ticket["sha256"] and item.original_filename == "现场 01.mp4"
        assert item.received_at.strftime("%Y-%m-%dT%H:%M:%S") == ticket["received_at"][:19]
        assert item.status == "ready"
    # the officer now sees their upload like any other recording of theirs
    assert off1.get(f"/api/v1/items/{result.item_id}/proxy").status_code == 200


def test_upload_refusals(world):
    c = world["clients"]
    mp4 = world["clips"]["h264"].read_bytes()
    assert c["aud"].post("/api/v1/uploads", params={"filename": "a.mp4"}, content=mp4).status_code == 403
    for bad, says in (
        ("../etc/passwd", "plain file name"),
        ("a/b.mp4", "plain file name"),
        (".hidden.mp4", "hidden"),
        ("x.mp4.part", "temporary"),
        ("", "1 character"),
        # ingest would leave these in the web upload point for ever, "queued"
        ("Thumbs.db", "litter"),
        ("desktop.ini", "litter"),
        ("~$report.mp4", "litter"),
        ("evil\nINFO forged.mp4", "control characters"),
        ("a\x1b[2Jb.mp4", "control characters"),
    ):
        r = c["off1"].post("/api/v1/uploads", params={"filename": bad}, content=mp4)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", bad
        assert says in r.json()["error"]["message"], (bad, r.json())
    assert not any(
        p.is_file()
        for p in world["rt"].settings.web_upload_dir.rglob("*")
        if ".incoming" not in p.parts and ".uploads" not in p.parts
    )
    empty = c["off1"].post("/api/v1/uploads", params={"filename": "empty.mp4"}, content=b"")
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    services = world["app"].state.services
    services.settings = services.settings.model_copy(update={"max_upload_bytes": 1000})
    big = c["off1"].post("/api/v1/uploads", params={"filename": "big.mp4"}, content=mp4)
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(mp4), 300):
            yield mp4[i : i + 300]

    streamed = c["off1"].post("/api/v1/uploads", params={"filename": "big.mp4"}, content=chunks())
    assert streamed.status_code == 413
    web = services.settings.web_upload_dir
    assert not any(web.rglob("*.mp4")) and not any((web / ".incoming").iterdir()), "nothing half-written left"
    assert c["rev1"].get("/api/v1/uploads/" + "0" * 32).status_code == 404
    assert c["rev1"].get("/api/v1/uploads/not-an-id").status_code == 404


def test_only_the_uploader_sees_the_upload_status(world):
    r = world["clients"]["off1"].post("/api/v1/uploads", params={"filename": "a.mp4"}, content=b"abc")
    upload_id = r.json()["upload_id"]
    assert world["clients"]["off2"].get(f"/api/v1/uploads/{upload_id}").status_code == 404
    assert world["clients"]["aud"].get(f"/api/v1/uploads/{upload_id}").status_code == 200


def test_a_body_of_several_mib_is_written_exactly(world):
    data = os.urandom(3 * (1 << 20) + 12345)  # several write batches and a partial one

    def pieces():
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    r = world["clients"]["off1"].post("/api/v1/uploads", params={"filename": "long.mp4"}, content=pieces())
    assert r.status_code == 202, r.text
    ticket = r.json()
    assert ticket["size_bytes"] == len(data) and ticket["sha256"] == hashlib.sha256(data).hexdigest()
    web = world["app"].state.services.settings.web_upload_dir
    assert (web / ticket["upload_id"] / "long.mp4").read_bytes() == data


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_an_upload_naming_someone_elses_recorder_is_refused_and_logged(world):
    """ZFY0001 is 110001's (off1, unit U1); ZFY0002 is 220002's (off2, unit U2)."""
    c, rt = world["clients"], world["rt"]

    def send(who, device):
        return c[who].post("/api/v1/uploads", params={"filename": "x.mp4", "device": device}, content=b"abc")

    for who, device in (("off2", "ZFY0001"), ("off1", "ZFY0002"), ("sup1", "ZFY0002"), ("rev1", "ZFY0001")):
        r = send(who, device)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (who, device, r.text)
        assert device in r.json()["error"]["message"]
    refused = denials(rt, "upload")
    assert [(d["agent"].split(";")[0], d["reason"].split()[1]) for d in refused] == [
        ("user=off2", "ZFY0001"),
        ("user=off1", "ZFY0002"),
        ("user=sup1", "ZFY0002"),
        ("user=rev1", "ZFY0001"),
    ]
    for who, device in (
        ("off1", "ZFY0001"),
        ("off2", " ZFY0002 "),
        ("sup1", "ZFY0001"),
        ("off1", "ZFY7777"),
        ("off1", None),
    ):
        assert send(who, device).status_code == 202, (who, device)
    web = world["app"].state.services.settings.web_upload_dir
    assert len(list(web.glob("*/x.mp4"))) == 5, "only the allowed uploads were written"
