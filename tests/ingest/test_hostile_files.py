"""Hostile things in an upload point, one at a time through the real pipeline, on SQLite and PostgreSQL:
links, FIFOs, names that are not UTF-8 or carry control characters, unreadable and unmovable files,
and same-named files meeting in the archive."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import func, select

from evidence.errors import InvalidInput, SourceChanged, SourceNotReleased, SourceUnreadable
from evidence.items import item_view
from evidence.models import CustodyEvent, Item, Receipt
from evidence.unit_of_work import transaction
from ingest.pipeline import finish_releases, ingest_file, regular_file, store_and_verify
from ingest.runtime import open_runtime
from tests.media import drop
from tests.privileges import immutable, run_unprivileged

NOT_UTF8 = os.fsdecode(b"ZFY0001/\xff\xfe\xe6\x89\xa7.mp4")


@pytest.fixture(params=["sqlite", "postgresql"])
def rt(request, make_settings):
    extra = {} if request.param == "sqlite" else {"database_url": request.getfixturevalue("pg_url")}
    runtime = open_runtime(make_settings(**extra), "test")
    runtime.settings.points[0].path.mkdir(parents=True, exist_ok=True)
    yield runtime
    runtime.close()


def point(rt):
    return rt.settings.points[0]


def all_items(rt) -> list[Item]:
    with transaction(rt.sessions) as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def variant(clips, tag: str) -> bytes:
    return clips["h264"].read_bytes() + tag.encode()


def test_links_are_never_ingested_nor_followed(rt, clips, tmp_path):
    upload = point(rt).path
    outside = drop(clips["h264"], tmp_path / "outside", "secret.mp4")
    (upload / "ZFY0001").mkdir()
    (upload / "ZFY0001" / "link.mp4").symlink_to(outside)
    (upload / "ZFY0002").symlink_to(outside.parent)  # a folder link: its files are outside too
    (upload / "ZFY0003").mkdir()
    (upload / "ZFY0003" / "loop.mp4").symlink_to(upload / "ZFY0003" / "loop.mp4")
    for rel, says in (
        ("ZFY0001/link.mp4", "symbolic link"),
        ("ZFY0002/secret.mp4", "folder"),
        ("ZFY0003/loop.mp4", "symbolic link"),
    ):
        with pytest.raises(InvalidInput, match=says):
            ingest_file(rt, point(rt), upload / rel)
    assert all_items(rt) == [] and outside.exists() and (upload / "ZFY0001" / "link.mp4").is_symlink()


def test_a_fifo_is_refused_naming_what_it_is(rt):
    fifo = point(rt).path / "ZFY0001" / "pipe.mp4"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match=r"FIFO \(named pipe\)"):
        ingest_file(rt, point(rt), fifo)


def test_a_file_swapped_for_a_link_after_it_was_examined_is_not_read(rt, clips, tmp_path):
    src = drop(clips["h264"], point(rt).path, "ZFY0001/swap.mp4")
    st = regular_file(point(rt), src)
    outside = drop(clips["h265"], tmp_path, "other.mp4")
    src.unlink()
    src.symlink_to(outside)
    with pytest.raises(SourceChanged, match="symbolic link"):
        store_and_verify(rt, src, st)


def test_a_name_that_is_not_utf8_is_ingested_with_its_exact_bytes(rt, clips):
    upload = point(rt).path
    src = upload / NOT_UTF8
    src.parent.mkdir()
    src.write_bytes(variant(clips, "bytes"))
    result = ingest_file(rt, point(rt), src)
    assert result.outcome == "new" and result.path.endswith("ZFY0001/\\xff\\xfe执.mp4")
    (item,) = all_items(rt)
    assert item.source_path == "ZFY0001/\\xff\\xfe执.mp4" and item.original_filename == "\\xff\\xfe执.mp4"
    assert item.source_path_bytes == b"ZFY0001/\xff\xfe\xe6\x89\xa7.mp4"
    assert item_view(item)["source_path_hex"] == item.source_path_bytes.hex()
    assert not src.exists() and (upload / "_archive" / NOT_UTF8).read_bytes() == variant(clips, "bytes")
    with transaction(rt.sessions) as session:
        receipt = session.scalars(select(Receipt)).one()
        assert receipt.rel_path_bytes == item.source_path_bytes and receipt.source_released_at is not None
        received = session.scalars(select(CustodyEvent).where(CustodyEvent.kind == "received")).one()
        assert json.loads(received.details)["path_bytes_hex"] == item.source_path_bytes.hex()


def test_a_kept_file_with_an_odd_name_is_recognised_on_the_next_pass(rt, clips):
    rt.settings = rt.settings.model_copy(update={"source_policy": "keep"})
    src = point(rt).path / NOT_UTF8
    src.parent.mkdir()
    src.write_bytes(variant(clips, "kept"))
    assert ingest_file(rt, point(rt), src).outcome == "new"
    # the receipt is found by its exact bytes, not confused with a name that spells the escape
    assert ingest_file(rt, point(rt), src).outcome == "skipped"
    lookalike = point(rt).path / "ZFY0001" / "\\xff\\xfe执.mp4"
    lookalike.write_bytes(variant(clips, "lookalike"))
    assert ingest_file(rt, point(rt), lookalike).outcome == "new"
    assert len(all_items(rt)) == 2


@pytest.mark.parametrize("name", ["a\nINFO ingest: new forged.mp4", "\x1b[2J\x1b[31mred\x07.mp4"])
def test_names_with_control_characters_are_stored_escaped_and_exact(rt, clips, name):
    src = point(rt).path / "ZFY0001" / name
    src.parent.mkdir()
    src.write_bytes(variant(clips, name))
    result = ingest_file(rt, point(rt), src)
    (item,) = all_items(rt)
    for shown in (result.path, item.source_path, item.original_filename):
        assert "\n" not in shown and "\x1b" not in shown and "\x07" not in shown
    assert item.source_path_bytes == os.fsencode("ZFY0001/" + name)
    assert (point(rt).path / "_archive" / "ZFY0001" / name).exists()


def test_an_unreadable_file_is_refused_and_left(rt, clips):
    src = drop(clips["h264"], point(rt).path, "ZFY0001/locked.mp4")
    src.chmod(0)
    with pytest.raises(SourceUnreadable, match="Permission denied"):
        run_unprivileged(ingest_file, rt, point(rt), src)
    assert src.exists() and all_items(rt) == []


def test_an_unmovable_source_is_kept_retried_and_never_stops_a_start(rt, clips):
    src = drop(clips["h264"], point(rt).path, "ZFY0001/stuck.mp4")
    with immutable(src):
        with pytest.raises(SourceNotReleased, match="could not be moved"):
            ingest_file(rt, point(rt), src)
        assert src.exists() and len(all_items(rt)) == 1  # stored and recorded; only the release waits
        assert finish_releases(rt, point(rt)) == 0  # a start does not fail on it
        with pytest.raises(SourceNotReleased):
            ingest_file(rt, point(rt), src)
    assert ingest_file(rt, point(rt), src).outcome == "resumed"
    assert not src.exists() and (point(rt).path / "_archive" / "ZFY0001" / "stuck.mp4").exists()
    with transaction(rt.sessions) as session:
        assert session.scalar(select(func.count(Receipt.id))) == 1


def test_the_archive_never_overwrites(rt, clips):
    archive = point(rt).path / "_archive" / "ZFY0001"
    archive.mkdir(parents=True)
    planted = {archive / "a.mp4.2": b"planted 2", archive / "a.mp4.3": b"planted 3"}
    for path, data in planted.items():
        path.write_bytes(data)
    sources = [variant(clips, f"take {n}") for n in range(3)]
    for data in sources:
        src = point(rt).path / "ZFY0001" / "a.mp4"
        src.parent.mkdir(exist_ok=True)
        src.write_bytes(data)
        assert ingest_file(rt, point(rt), src).outcome == "new"
        assert not src.exists()
    held = sorted(p.read_bytes() for p in archive.iterdir())
    assert held == sorted([*planted.values(), *sources])


def test_a_folder_name_too_long_for_a_serial_still_ingests(rt, clips):
    src = drop(clips["h264"], point(rt).path, "x" * 200 + "/a.mp4")
    assert ingest_file(rt, point(rt), src).outcome == "new"
    (item,) = all_items(rt)
    assert item.device_serial is None and item.source_path == "x" * 200 + "/a.mp4"
