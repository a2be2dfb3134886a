"""Evidence clips: cut from the original by the worker, new item with provenance, linked to the case."""

from __future__ import annotations

import hashlib
import json

import pytest

from evidence.models import Item
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from tests.api.conftest import events
from tests.media import closest_frame, drop, gray_frames, streams


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


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
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
    assert (done["start_s"], done["end_s"], done["cut_start_s"], done["cut_end_s"]) == (2.5, 4.5, 2.52, 4.52)
    clip_id = done["item_id"]

    with transaction(rt.sessions) as session:
        clip, original = session.get(Item, clip_id), session.get(Item, source)
        # cut on frames: 2.5 s lies between the frames at 2.48 and 2.52 s, so the clip starts at 2.52
        assert (clip.derived_from, clip.clip_start_s, clip.clip_end_s) == (source, 2.52, 4.52)
        assert clip.status == "ready" and clip.proxy_key and clip.unit == "U1" and clip.officer_id == "110001"
        assert original.sha256 == source_sha and clip.sha256 != source_sha
        clip_key = clip.object_key
    local = tmp_path / "clip.mp4"
    local.write_bytes(b"".join(rt.store.iter_chunks(clip_key)))
    assert hashlib.sha256(local.read_bytes()).hexdigest() == clip.sha256
    # the source's keyframes are at whole seconds: the clip's first frame is still the one at 2.52 s
    frames = gray_frames(local)
    assert closest_frame(frames[0], gray_frames(world["clips"]["gop"])) == 63 and len(frames) == 50
    assert float(streams(local)["video"]["start_time"]) == 0
    # the original in the store is untouched
    with transaction(rt.sessions) as session:
        original_key = session.get(Item, source).object_key
    assert hashlib.sha256(b"".join(rt.store.iter_chunks(original_key))).hexdigest() == source_sha

    view = rev1.get(f"/api/v1/items/{clip_id}").json()
    assert view["cases"] == ["C-CLIP"] and view["recorded_start"] == "2026-11-01T08:00:02.520000Z"
    assert view["on_time"] is None and view["upload_deadline"] is None
    (made,) = events(rt, clip_id, "clip_made")
    provenance = json.loads(made.details)
    assert provenance["derived_from"] == source and provenance["method"] == "reencode"
    assert (provenance["start_s"], provenance["end_s"]) == (2.52, 4.52), "the actual cut points"
    assert (provenance["requested_start_s"], provenance["requested_end_s"]) == (2.5, 4.5)
    assert "libx264" in provenance["args"] and made.tool.startswith("ffmpeg")
    # the clip's own hash and size, as the stored bytes give them, on the clip's event and the source's
    stored_clip = b"".join(rt.store.iter_chunks(clip_key))
    assert provenance["clip_sha256"] == hashlib.sha256(stored_clip).hexdigest() == clip.sha256
    assert provenance["clip_size_bytes"] == len(stored_clip)
    (on_source,) = events(rt, source, "clip_made")
    assert json.loads(on_source.details)["clip_sha256"] == clip.sha256
    assert json.loads(on_source.details)["clip_size_bytes"] == len(stored_clip)
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
    for body, says in (
        ({"start_s": 1.0, "end_s": 1.0}, "after start_s"),
        ({"start_s": 0.5, "end_s": 9.0}, "past the end"),
        ({"start_s": -1, "end_s": 1.0}, "start_s"),
    ):
        r = c["rev1"].post(url, json={**body, "case_id": case_id})
        assert r.status_code == 422 and says in r.json()["error"]["message"], body
    r = c["rev1"].post(f"/api/v1/items/{broken}/clips", json={"start_s": 0, "end_s": 1, "case_id": case_id})
    assert r.status_code == 422 and "no decodable video" in r.json()["error"]["message"]
    assert c["rev1"].post(url, json={"start_s": 0, "end_s": 1, "case_id": 999}).status_code == 404
    assert c["off1"].post(url, json={"start_s": 0, "end_s": 1, "case_id": case_id}).status_code == 403
    c["sup1"].patch(f"/api/v1/cases/{case_id}", json={"status": "closed"})
    assert c["rev1"].post(url, json={"start_s": 0, "end_s": 1, "case_id": case_id}).status_code == 403
    assert c["rev2"].get("/api/v1/clips/1").status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"start_s": 0, "end_s": 1e-320}, "at least one frame"),  # was accepted: a clip of no frame
        ({"start_s": 0.5, "end_s": 0.53}, "at least one frame"),
        ({"start_s": 1.961, "end_s": 2.0}, "at least one frame"),
        ({"start_s": 0, "end_s": True}, "end_s"),  # was taken as 1.0 s
        ({"start_s": False, "end_s": 1}, "start_s"),
        ({"start_s": 0, "end_s": "1.0"}, "end_s"),
        ({"start_s": [0], "end_s": 1}, "start_s"),
        ({"start_s": 0, "end_s": None}, "end_s"),
    ],
)
def test_clip_times_are_strict_numbers_at_least_a_frame_long(world, case_id, body, says):
    r = world["clients"]["rev1"].post(f"/api/v1/items/{world['ids']['a']}/clips", json={**body, "case_id": case_id})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    assert says in r.json()["error"]["message"], r.text
    assert events(world["rt"], world["ids"]["a"], "clip_requested") == []


def test_clip_request_oddities_are_422(world, case_id):
    client, url = world["clients"]["rev1"], f"/api/v1/items/{world['ids']['a']}/clips"
    for raw in ('{"start_s": NaN, "end_s": 1, "case_id": %d}', '{"start_s": 0, "end_s": Infinity, "case_id": %d}'):
        r = client.post(url, content=raw % case_id, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", raw
    r = client.post(url, json={"start_s": 0, "end_s": 1, "case_id": True})
    assert r.status_code == 422 and "case_id" in r.json()["error"]["message"]
    # whole numbers of seconds are numbers too; one frame (1/25 s) is the shortest clip
    for body in ({"start_s": 0, "end_s": 1}, {"start_s": 1.96, "end_s": 2.0}):
        assert client.post(url, json={**body, "case_id": case_id}).status_code == 202, body
