"""Derived files carry their own hash in custody, and each ingest event says when its step happened."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from evidence import custody
from evidence.items import iso
from evidence.models import Item, utcnow
from evidence.unit_of_work import transaction
from ingest import worker
from ingest.pipeline import ingest_file
from tests.media import drop


def log(rt, item_id: int) -> dict[str, list]:
    with transaction(rt.sessions) as session:
        found: dict[str, list] = {}
        for event in custody.log_for(session, item_id):
            found.setdefault(event.kind, []).append(event)
        return found


def test_proxy_and_poster_events_record_the_hash_and_size_of_the_stored_files(rt, upload, clips):
    result = ingest_file(rt, rt.settings.points[0], drop(clips["h264"], upload, "ZFY0001/a.mp4"))
    worker.drain(rt, item_ids=[result.item_id])
    (made,) = log(rt, result.item_id)["proxy_made"]
    details = json.loads(made.details)
    with transaction(rt.sessions) as session:
        item = session.get_one(Item, result.item_id)
        keys = {"proxy": item.proxy_key, "poster": item.poster_key}
    for name, key in keys.items():
        stored = b"".join(rt.store.iter_chunks(key))
        assert details[f"{name}_key"] == key
        assert details[f"{name}_sha256"] == hashlib.sha256(stored).hexdigest(), name
        assert details[f"{name}_size_bytes"] == len(stored) > 0, name


def test_ingest_events_occurred_when_their_steps_did(rt, upload, clips):
    path = drop(clips["h264"], upload, "ZFY0001/a.mp4")
    before = utcnow()
    result = ingest_file(rt, rt.settings.points[0], path)
    worker.drain(rt, item_ids=[result.item_id])
    events = log(rt, result.item_id)
    (received,), (hashed,), (stored,), (verified,) = (events[k] for k in ("received", "hashed", "stored", "verified"))
    for event in (received, hashed, stored, verified, *events["probed"], *events["proxy_made"]):
        assert isinstance(event.occurred_at, datetime) and before <= event.occurred_at <= event.recorded_at, event.kind
    # the steps' own times, in the order they happened, all before the one commit that recorded them
    assert received.occurred_at <= hashed.occurred_at <= stored.occurred_at <= verified.occurred_at
    assert verified.occurred_at < verified.recorded_at
    assert iso(hashed.occurred_at) == json.loads(hashed.details)["at"]
    assert iso(stored.occurred_at) == json.loads(stored.details)["at"]
    assert iso(verified.occurred_at) == json.loads(verified.details)["at"]
    with transaction(rt.sessions) as session:
        assert session.get_one(Item, result.item_id).stored_at == stored.occurred_at
    (probed,) = events["probed"]
    assert probed.occurred_at < probed.recorded_at
