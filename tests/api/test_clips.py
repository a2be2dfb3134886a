"""Evidence clips: cut from the original by the worker, new item with provenance, linked to the case."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evidence.db import transaction
from evidence.models import Item
from ingest import worker
from ingest.clips import container_for, copy_args, reencode_args
from ingest.pipeline import ingest_file
from ingest.probe import probe
from tests.api.conftest import events
from tests.media import drop


def ingest(world, clip_name, rel):
    rt = world["rt"]
    point = rt.settings.points[0]
    result = ingest_file(rt, point, drop(world["clips"][clip_name], point.path, rel))
    worker.drain(rt, item_ids=[result.item_id])
    return result.item_id


@pytest.fixture
def case_id(world):
    r = world["clients"]["rev1"].post("/api/v1/cases", json={"number": "C-CLIP", "title": "clips"})
    return r.json()["id"]


def test_clip_is_a_new_item_cut_from_the_original(world, case_id, tmp_path):
    rt, rev1 = world["rt"], world["clients"]["rev1"]
    source = ingest(world, "gop", "ZFY0001/gop.mp4")
    source_sha = hashlib.sha256(world["clips"]["gop"].read_bytes()).hexdigest()
    r = rev1.post(f"/api/v1/items/{source}/clips", json={"start_s": 2.5, "end_s": 4.5, "case_id": case_id})
    assert r.status_code == 202, r.text
    request = r.json()
    assert request["status"] == "queued"
    worker.drain(rt)
    done = rev1.get(f"/api/v1/clips/{request['clip_request_id']}").json()
    assert done["status"] == "done" and done["item_id"] and done["item_id"] != source
    clip_id = done["item_id"]

    with transaction(rt.sessions) as session:
        clip, original = session.get(Item, clip_id), session.get(Item, source)
        assert (clip.derived_from, clip.clip_start_s, clip.clip_end_s) == (source, 2.5, 4.5)
        assert clip.status == "ready" and clip.proxy_key and clip.unit == "U1" and clip.officer_id == "110001"
        assert original.sha256 == source_sha and clip.sha256 != source_sha
        clip_key = clip.object_key
    local = tmp_path / "clip.mp4"
    local.write_bytes(b"".join(rt.store.iter_chunks(clip_key)))
    assert hashlib.sha256(local.read_bytes()).hexdigest() == clip.sha256
    assert abs(probe(local).duration_s - 2.0) <= 1.0 + 0.04, "within one GOP (1 s) of the request"
    # the original in the store is untouched
    with transaction(rt.sessions) as session:
        original_key = session.get(Item, source).object_key
    assert hashlib.sha256(b"".join(rt.store.iter_chunks(original_key))).hexdigest() == source_sha

    view = rev1.get(f"/api/v1/items/{clip_id}").json()
    assert view["cases"] == ["C-CLIP"] and view["recorded_start"] == "2026-11-01T08:00:02.500000Z"
    assert view["on_time"] is None and view["upload_deadline"] is None
    (made,) = events(rt, clip_id, "clip_made")
    provenance = json.loads(made.details)
    assert provenance["derived_from"] == source and provenance["method"] == "copy"
    assert provenance["start_s"] == 2.5 and "-c" in provenance["args"] and made.tool.startswith("ffmpeg")
    assert len(events(rt, source, "clip_made")) == 1 and len(events(rt, source, "clip_requested")) == 1

    # the same request again gives the same bytes: the same item, hash stable
    again = rev1.post(f"/api/v1/items/{source}/clips", json={"start_s": 2.5, "end_s": 4.5, "case_id": case_id})
    worker.drain(rt)
    assert rev1.get(f"/api/v1/clips/{again.json()['clip_request_id']}").json()["item_id"] == clip_id


def test_bad_clip_requests(world, case_id):
    c = world["clients"]
    a = world["ids"]["a"]
    broken = ingest(world, "truncated", "ZFY0001/broken.mp4")
    url = f"/api/v1/items/{a}/clips"
    for body, says in (({"start_s": 1.0, "end_s": 1.0}, "after start_s"),
                       ({"start_s": 0.5, "end_s": 9.0}, "past the end"),
                       ({"start_s": -1, "end_s": 1.0}, "start_s")):
        r = c["rev1"].post(url, json={**body, "case_id": case_id})
        assert r.status_code == 422 and says in r.json()["error"]["message"], body
    r = c["rev1"].post(f"/api/v1/items/{broken}/clips", json={"start_s": 0, "end_s": 1, "case_id": case_id})
    assert r.status_code == 422 and "no decodable video" in r.json()["error"]["message"]
    assert c["rev1"].post(url, json={"start_s": 0, "end_s": 1, "case_id": 999}).status_code == 404
    assert c["off1"].post(url, json={"start_s": 0, "end_s": 1, "case_id": case_id}).status_code == 403
    c["sup1"].patch(f"/api/v1/cases/{case_id}", json={"status": "closed"})
    assert c["rev1"].post(url, json={"start_s": 0, "end_s": 1, "case_id": case_id}).status_code == 403
    assert c["rev2"].get("/api/v1/clips/1").status_code == 404


def test_clip_argument_builders():
    assert container_for("mov,mp4,m4a,3gp,3g2,mj2") == ("mp4", "mp4")
    assert container_for("avi") == ("avi", "avi")
    assert container_for("mpegts") == ("matroska", "mkv")
    copy = copy_args(Path("in.mp4"), Path("out.mp4"), 2.5, 4.5, "mp4")
    assert copy[copy.index("-ss") + 1] == "2.500" and copy.index("-ss") < copy.index("-i"), "seek before input"
    assert "copy" in copy and "+bitexact" in copy and copy[copy.index("-t") + 1] == "2.000"
    again = reencode_args(Path("in.avi"), Path("out.mp4"), 0, 1, audio=False)
    assert "libx264" in again and "aac" not in again
