"""On S3, ffprobe and ffmpeg read originals through presigned URLs; a download is only the fallback.

All on the moto S3 server the suite starts, with real ffmpeg: the outputs read from a URL are the
bytes made from a downloaded copy; jobs run without any download; the URL (a bearer credential)
reaches neither the custody log nor the logs; a URL read that fails (refused, or stalled) falls back
to the download and gives the same results. moto does not enforce a presigned URL's expiry (checked:
an expired URL still reads), so the failed read is made real another way: ffmpeg (alone: the minio
client ignores the environment) is sent through an HTTP proxy that refuses or never answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from evidence import cases, jobs
from evidence.items import get_item
from evidence.jobs import JobKind
from evidence.models import CustodyEvent, Item
from evidence.objectstore import is_url, original_key
from evidence.unit_of_work import transaction
from ingest import reading, worker
from ingest.clips import cut
from ingest.pipeline import ingest_file
from ingest.probe import probe
from ingest.proxy import ProxyProfile, make_poster, make_proxy
from ingest.runtime import open_runtime
from storage_config.provision import open_store, provision
from tests.media import drop
from tests.servers import free_port

SECRET_MARKS = ("X-Amz-", "Signature", "testkey", "presigned=")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_sha(store, key: str) -> str:
    return hashlib.sha256(b"".join(store.iter_chunks(key))).hexdigest()


@pytest.fixture
def s3(make_settings, moto):
    store = open_store(make_settings(storage_url=moto.url()))
    provision(store)
    return store


def stored_original(store, src: Path) -> str:
    key = original_key(sha(src))
    with open(src, "rb") as f:
        store.write(key, f, src.stat().st_size)
    return key


@contextlib.contextmanager
def downloads_forbidden(store):
    """``local_path`` (the download to staging) raises; staging is watched for ``.get`` files as well."""
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.extend(p.name for p in store.staging_dir().iterdir() if p.name.endswith(".get"))
            stop.wait(0.005)

    def refuse(key: str):
        raise AssertionError(f"{key} was downloaded")

    original = store.local_path
    store.local_path = refuse
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join(5)
        store.local_path = original


@contextlib.contextmanager
def counting_downloads(store):
    """Count the downloads (the store's own ``local_path``, run as it is)."""
    keys: list[str] = []
    original = store.local_path

    def counted(key: str):
        keys.append(key)
        return original(key)

    store.local_path = counted
    try:
        yield keys
    finally:
        store.local_path = original


@contextlib.contextmanager
def ffmpeg_proxy(monkeypatch, answer: bool):
    """ffmpeg's http reads go through a proxy on loopback that refuses (``answer=False``: a closed
    port) or accepts and never answers (a stalled store)."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    if not answer:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
        yield
        return
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{listener.getsockname()[1]}")
        yield


def test_outputs_from_the_url_are_the_bytes_made_from_a_download(s3, clips, tmp_path):
    h264, h265 = stored_original(s3, clips["h264"]), stored_original(s3, clips["h265"])
    profile = ProxyProfile()
    made: dict[str, dict[str, str]] = {}
    for way in ("url", "download"):
        out = tmp_path / way
        out.mkdir()
        with contextlib.ExitStack() as stack:
            if way == "url":
                sources = {k: s3.tool_input(k, 120) for k in (h264, h265)}
                assert all(is_url(src) for src in sources.values())
            else:
                sources = {k: str(stack.enter_context(s3.local_path(k))) for k in (h264, h265)}
            info264, info265 = probe(sources[h264]), probe(sources[h265])
            _, clip = cut(sources[h264], out, "clip", 0.52, 1.48, True, ffmpeg_bin="ffmpeg", timeout=120)
            remux = make_proxy(
                sources[h264], out / "r.mp4", info264, profile, ffmpeg_bin="ffmpeg", timeout=120, transcode=True
            )
            transcode = make_proxy(
                sources[h265], out / "t.mp4", info265, profile, ffmpeg_bin="ffmpeg", timeout=120, transcode=True
            )
            make_poster(sources[h264], out / "p.jpg", info264, ffmpeg_bin="ffmpeg", timeout=60)
        assert (remux.method, remux.fallback_from, transcode.method) == ("remux", None, "transcode")
        made[way] = {
            "probe": json.dumps([info264.as_dict(), info265.as_dict()]),
            "clip": sha(clip),
            "remux": sha(out / "r.mp4"),
            "transcode": sha(out / "t.mp4"),
            "poster": sha(out / "p.jpg"),
        }
    assert made["url"] == made["download"]  # byte for byte (clips are bit-exact by design)


def test_url_inputs_get_read_timeouts_and_files_do_not():
    url = "http://127.0.0.1:9/bucket/originals/x?X-Amz-Signature=abc"
    assert reading.option_args("/store/originals/x") == []
    args = reading.option_args(url)
    assert args[:2] == ["-rw_timeout", str(int(reading.STALL_S * 1_000_000))] and "-reconnect" in args
    assert reading.redact(f"{url}: Server returned 403 Forbidden") == "<presigned URL>: Server returned 403 Forbidden"
    key = "originals/sha256/ab/cd/abcd"
    assert reading.portable_args(["ffmpeg", "-i", url, "/x/s3-staging/proxy-1-1.mp4"], key) == [
        "ffmpeg",
        "-i",
        key,
        "<output>",
    ]


GOOD = ("h264", "h265")
ALL = (*GOOD, "truncated")


def ingest_some(rt, clips, names) -> list[int]:
    point = rt.settings.points[0]
    return [ingest_file(rt, point, drop(clips[name], point.path, f"ZFY0001/{name}.mp4")).item_id for name in names]


def request_clip(rt, item_id: int, start_s: float, end_s: float) -> int:
    def write(session):
        case = cases.open_case(session, "C-1", "test", "unit", "rev1", "test")
        payload = {"start_s": start_s, "end_s": end_s, "case_id": case.id, "requested_by": "rev1", "agent": "test"}
        return jobs.enqueue_with_payload(session, item_id, JobKind.CLIP, payload).id

    with transaction(rt.sessions) as session:
        return write(session)


def results(rt, item_ids: list[int], clip_job: int) -> dict:
    """What the jobs made: the items' probed fields and states, the derived files' and the clip's hashes."""
    with transaction(rt.sessions) as session:
        found = {}
        for item_id in item_ids:
            item = get_item(session, item_id)
            found[item_id] = {
                "status": item.status,
                "media": [item.container, item.video_codec, item.audio_codec, item.width, item.height, item.fps],
                "duration_s": item.duration_s,
                "proxy_method": item.proxy_method,
                "proxy": stored_sha(rt.store, item.proxy_key) if item.proxy_key else None,
                "poster": stored_sha(rt.store, item.poster_key) if item.poster_key else None,
            }
        job = session.get_one(jobs.Job, clip_job)
        clip = session.get_one(Item, json.loads(job.payload)["result_item_id"])
        found["clip"] = (job.state, clip.sha256, stored_sha(rt.store, clip.object_key))
        events = session.scalars(select(CustodyEvent)).all()
        found["events"] = [(e.kind, e.details or "", e.tool or "", e.agent or "") for e in events]
    return found


def run_jobs(settings, clips, names) -> tuple[dict, list[int]]:
    rt = open_runtime(settings, "test")
    try:
        ids = ingest_some(rt, clips, names)
        worker.drain(rt, item_ids=ids)
        clip_job = request_clip(rt, ids[0], 0.52, 1.48)
        worker.drain(rt, item_ids=[ids[0]])
        return results(rt, ids, clip_job), ids
    finally:
        rt.close()


def no_secret_in(events, records) -> None:
    for kind, *texts in events:
        for text in texts:
            assert not any(mark in text for mark in SECRET_MARKS), (kind, text)
    for record in records:
        assert not any(mark in record.getMessage() for mark in SECRET_MARKS), record.getMessage()


def test_jobs_on_s3_read_urls_never_download_and_record_no_url(make_settings, moto, clips, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    # the same jobs on the folder store: the results before (tools read the stored files in place)
    before, before_ids = run_jobs(make_settings(home=tmp_path / "file"), clips, GOOD)
    settings = make_settings(home=tmp_path / "s3", storage_url=moto.url())
    rt = open_runtime(settings, "test")
    try:
        with downloads_forbidden(rt.store) as seen:
            ids = ingest_some(rt, clips, GOOD)
            worker.drain(rt, item_ids=ids)
            clip_job = request_clip(rt, ids[0], 0.52, 1.48)
            worker.drain(rt, item_ids=[ids[0]])
        after = results(rt, ids, clip_job)
    finally:
        rt.close()
    assert seen == []
    h264, h265 = ids
    assert after[h264]["status"] == after[h265]["status"] == "ready"
    assert (after[h264]["proxy_method"], after[h265]["proxy_method"]) == ("remux", "transcode")
    assert [after[i] for i in ids] == [before[i] for i in before_ids]  # probe fields, proxy and poster bytes
    assert after["clip"][0] == "done" and after["clip"][1] == after["clip"][2]
    assert after["clip"][1:] == before["clip"][1:]  # the same clip, byte for byte
    # the custody log names the object key where the tool read the URL
    proxy_args = [json.loads(d)["args"] for kind, d, *_ in after["events"] if kind == "proxy_made" and "args" in d]
    assert len(proxy_args) == 2 and all(any(a.startswith("originals/sha256/") for a in args) for args in proxy_args)
    no_secret_in(after["events"], caplog.records)


def test_a_refused_url_read_falls_back_to_the_download(make_settings, moto, clips, caplog, monkeypatch, tmp_path):
    caplog.set_level(logging.DEBUG)
    before, before_ids = run_jobs(make_settings(home=tmp_path / "direct", storage_url=moto.url()), clips, ALL)
    settings = make_settings(home=tmp_path / "refused", storage_url=moto.url())
    with ffmpeg_proxy(monkeypatch, answer=False):
        rt = open_runtime(settings, "test")
        try:
            with counting_downloads(rt.store) as downloaded:
                ids = ingest_some(rt, clips, ALL)
                worker.drain(rt, item_ids=ids)
                clip_job = request_clip(rt, ids[0], 0.52, 1.48)
                worker.drain(rt, item_ids=[ids[0]])
            after = results(rt, ids, clip_job)
            left = list(rt.store.staging_dir().iterdir())
        finally:
            rt.close()
    # probe x3, proxy and poster x2 (none for the truncated file), the clip
    assert len(downloaded) == 3 + 2 * 2 + 1
    assert left == []
    assert [after[i] for i in ids] == [before[i] for i in before_ids]
    assert after[ids[2]]["status"] == "media_error"  # judged on the downloaded bytes, as on the URL
    assert after["clip"][1:] == before["clip"][1:]
    assert any("presigned URL failed" in r.getMessage() for r in caplog.records)
    no_secret_in(after["events"], caplog.records)


def test_a_stalled_url_read_gives_up_after_the_stall_timeout(s3, clips, monkeypatch):
    monkeypatch.setattr(reading, "STALL_S", 1.0)
    key = stored_original(s3, clips["h264"])
    with counting_downloads(s3) as downloaded, ffmpeg_proxy(monkeypatch, answer=True):
        t0 = time.monotonic()
        info = reading.run_on(s3, key, 60, lambda src: probe(src, "ffprobe", 60))
        elapsed = time.monotonic() - t0
    assert downloaded == [key] and elapsed < 20
    assert info == probe(clips["h264"])


def test_the_folder_store_gives_its_file_and_no_url(make_settings, clips):
    store = open_store(make_settings())
    provision(store)
    key = stored_original(store, clips["h264"])
    src = store.tool_input(key, 60)
    assert not is_url(src) and sha(Path(src)) == sha(clips["h264"])
    with pytest.raises(FileNotFoundError):
        store.tool_input(original_key("0" * 64), 60)
