"""A station ingests several files at once (EVIDENCE_INGEST_CONCURRENCY): each still exactly once."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import select

from evidence import custody_verify
from evidence.models import CustodyEvent, Item, Receipt
from evidence.unit_of_work import transaction
from ingest import daemon as daemon_module
from tests.ingest.test_daemon import count, db, items, running, wait_for
from tests.media import drop

MIB = 1 << 20


def _receipt_order(settings) -> list[str]:
    engine, sessions = db(settings)
    try:
        with transaction(sessions) as session:
            return list(session.scalars(select(Receipt.rel_path).order_by(Receipt.id)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("concurrency", [1, 2])
def test_small_files_do_not_queue_behind_a_large_one(make_settings, clips, moto, concurrency, monkeypatch):
    # on S3 (moto on loopback), storing the large file takes seconds: long enough to be overtaken; and
    # the loop's tick made longer than that: the small files' arrival itself must wake the loop
    monkeypatch.setattr(daemon_module, "TICK_S", 5.0)
    settings = make_settings(
        ingest_concurrency=concurrency, settle_seconds=0, rescan_seconds=60, storage_url=moto.url()
    )
    upload = settings.points[0].path
    big = upload / "ZFY0001" / "big.mp4"
    big.parent.mkdir(parents=True)
    block = os.urandom(MIB)
    with open(big, "wb") as out:
        for n in range(150):
            out.write(block[:-8] + n.to_bytes(8, "big"))
    with running(settings, jobs=False, maintenance=False) as daemon:
        wait_for(lambda: big in daemon.in_flight, every=0.01)
        small = [drop(clips["h264"], upload, f"ZFY0002/small{n}.mp4") for n in range(3)]
        for n, f in enumerate(small):  # distinct contents: three items, not duplicates
            with open(f, "ab") as out:
                out.write(b"%d" % n)
        wait_for(lambda: count(settings, Receipt) == 4, timeout=120)
    order = _receipt_order(settings)
    if concurrency == 1:
        assert order[0] == "ZFY0001/big.mp4", order  # one at a time: the large file holds up the rest
    else:
        assert order[-1] == "ZFY0001/big.mp4", order  # the second thread took the small files meanwhile
    assert not big.exists() and not any(f.exists() for f in small)  # all released, each after its verification


def test_a_burst_with_duplicates_is_ingested_exactly_once(make_settings, backend, clips, tmp_path):
    settings = make_settings(ingest_concurrency=4, settle_seconds=0.2, **backend)
    upload = settings.points[0].path
    data = clips["h264"].read_bytes()
    contents = [data + b"burst-%d" % n for n in range(20)]
    staged = tmp_path / "staged"
    staged.mkdir()
    for n, content in enumerate(contents):
        (staged / f"c{n}.mp4").write_bytes(content)
    # every content at ZFY0001; half of them again at ZFY0002 (a second dock of the same footage)
    dropped = [drop(staged / f"c{n}.mp4", upload, f"ZFY0001/c{n}.mp4") for n in range(20)]
    dropped += [drop(staged / f"c{n}.mp4", upload, f"ZFY0002/again{n}.mp4") for n in range(0, 20, 2)]
    with running(settings, jobs=False, maintenance=False):
        wait_for(lambda: count(settings, Receipt, Receipt.source_released_at.is_not(None)) == len(dropped), timeout=120)
    assert {i.sha256 for i in items(settings)} == {hashlib.sha256(c).hexdigest() for c in contents}
    assert count(settings, Item) == 20
    assert count(settings, Receipt, Receipt.outcome == "duplicate") == 10
    assert count(settings, CustodyEvent, CustodyEvent.kind == "received") == 20
    assert count(settings, CustodyEvent, CustodyEvent.kind == "duplicate_received") == 10
    assert not any(f.exists() for f in dropped)
    archived = sorted(p.relative_to(upload / "_archive").as_posix() for p in (upload / "_archive").rglob("*.mp4"))
    assert archived == sorted(f.relative_to(upload).as_posix() for f in dropped)
    engine, sessions = db(settings)
    try:
        with transaction(sessions) as session:
            assert custody_verify.verify(session).ok
    finally:
        engine.dispose()
