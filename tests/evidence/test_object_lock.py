"""Originals' object locks follow their items' retention (evidence/object_lock.py), against the moto
S3 server the suite starts and the folder store; the sweeper waits for a lock to end."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from evidence import cases, custody, custody_verify, holds, object_lock, retention, sweeper
from evidence.errors import StoreUnavailable
from evidence.models import Item
from evidence.retention import Rules
from evidence.unit_of_work import transaction
from storage_config.provision import open_store, provision
from tests.evidence.retention_world import AGENT, add_item

RULES = Rules(retain_days=180, important_days=1095, after_case_days=30)


@pytest.fixture
def s3(make_settings, moto):
    store = open_store(make_settings(storage_url=moto.url()))
    provision(store)
    return store


def now() -> datetime:
    return datetime.now(UTC)


def recent_item(sessions, store, name: str = "a", days_ago: float = 1) -> tuple[int, str]:
    """An item recorded ``days_ago``, its original stored and its retention assessed."""
    with transaction(sessions) as s:
        item = add_item(s, name, recorded_end=now().replace(microsecond=0) - timedelta(days=days_ago))
        retention.refresh(s, [item.id], RULES)
        store.write(item.object_key, io.BytesIO(b"bytes"), 5)
        return item.id, item.object_key


def row(sessions, item_id: int) -> Item:
    with transaction(sessions) as s:
        item = s.get_one(Item, item_id)
        s.expunge(item)
        return item


def lock_events(sessions, item_id: int) -> list[dict]:
    with transaction(sessions) as s:
        return [json.loads(e.details) for e in custody.log_for(s, item_id) if e.kind == "lock_applied"]


def on_server(store, key: str) -> dict:
    stat = store.client.stat_object(bucket_name=store.bucket, object_name=key)
    meta = {k.lower(): v for k, v in stat.metadata.items()}
    return {
        "mode": meta.get("x-amz-object-lock-mode"),
        "until": meta.get("x-amz-object-lock-retain-until-date"),
        "hold": meta.get("x-amz-object-lock-legal-hold"),
    }


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_an_original_is_retained_until_its_keep_until_and_extended_when_that_grows(any_sessions, s3):
    item_id, key = recent_item(any_sessions, s3)
    keep_until = row(any_sessions, item_id).keep_until
    report = object_lock.refresh(any_sessions, s3, AGENT)
    assert report.status == "on" and report.errors == [] and [r["id"] for r in report.locked] == [item_id]
    item = row(any_sessions, item_id)
    assert (item.lock_state, item.lock_until) == ("compliance", keep_until)
    assert on_server(s3, key) == {"mode": "COMPLIANCE", "until": stamp(keep_until), "hold": None}
    (event,) = lock_events(any_sessions, item_id)
    assert event["mode"] == "COMPLIANCE" and event["until"] == retention.iso(keep_until)
    assert event["legal_hold"] is None and event["version_id"] and event["key"] == key
    assert object_lock.refresh(any_sessions, s3, AGENT).locked == []  # nothing more to do
    with pytest.raises(StoreUnavailable, match="AccessDenied"):
        s3.delete(key)

    with transaction(any_sessions) as s:  # marked important: kept three years, so locked three years
        cases.add_mark(s, s.get_one(Item, item_id), "important", None, "sup1", AGENT, rules=RULES)
    longer = row(any_sessions, item_id).keep_until
    assert longer > keep_until
    object_lock.refresh(any_sessions, s3, AGENT)
    assert row(any_sessions, item_id).lock_until == longer
    assert on_server(s3, key)["until"] == stamp(longer)
    untils = [e["until"] for e in lock_events(any_sessions, item_id)]
    assert untils == [retention.iso(keep_until), retention.iso(longer)]
    with transaction(any_sessions) as s:
        assert custody_verify.verify(s).ok


def test_kept_permanently_is_a_legal_hold_taken_off_when_the_hold_ends(any_sessions, s3):
    item_id, key = recent_item(any_sessions, s3)
    object_lock.refresh(any_sessions, s3, AGENT)
    dated = row(any_sessions, item_id).lock_until
    with transaction(any_sessions) as s:
        holds.place(s, item=s.get_one(Item, item_id), reason="court order", by="sup1", agent=AGENT, rules=RULES)
    assert row(any_sessions, item_id).keep_until is None
    object_lock.refresh(any_sessions, s3, AGENT)
    item = row(any_sessions, item_id)
    assert (item.lock_state, item.lock_until) == ("legal_hold", dated)  # the date stays under the hold
    assert on_server(s3, key)["hold"] == "ON"
    assert lock_events(any_sessions, item_id)[-1]["legal_hold"] is True
    assert object_lock.refresh(any_sessions, s3, AGENT).locked == []

    with transaction(any_sessions) as s:
        holds.release(s, item=s.get_one(Item, item_id), reason="lifted", by="sup1", agent=AGENT, rules=RULES)
    object_lock.refresh(any_sessions, s3, AGENT)
    item = row(any_sessions, item_id)
    assert item.lock_state == "compliance" and item.lock_until == dated
    assert on_server(s3, key) == {"mode": "COMPLIANCE", "until": stamp(dated), "hold": "OFF"}
    last = lock_events(any_sessions, item_id)[-1]
    assert last["legal_hold"] is False and "taken off" in last["why"]


def test_the_folder_store_records_that_it_cannot_lock(sessions, make_settings):
    store = open_store(make_settings())
    provision(store)
    item_id, _ = recent_item(sessions, store)
    report = object_lock.refresh(sessions, store, AGENT)
    assert (report.status, report.locked) == ("unsupported", [])
    assert row(sessions, item_id).lock_state == "unsupported" and lock_events(sessions, item_id) == []


def test_a_bucket_without_lock_records_that_it_cannot_lock(sessions, make_settings, moto):
    store = open_store(make_settings(storage_url=moto.url()))
    store.client.make_bucket(bucket_name=store.bucket)
    provision(store)
    item_id, key = recent_item(sessions, store)
    assert object_lock.refresh(sessions, store, AGENT).status == "off"
    assert row(sessions, item_id).lock_state == "unsupported" and on_server(store, key)["mode"] is None


def test_one_failure_is_reported_and_the_others_are_locked(sessions, s3):
    missing, _ = recent_item(sessions, s3, "gone")
    present, _ = recent_item(sessions, s3, "here")
    s3.delete(row(sessions, missing).object_key)  # not yet locked: the object is simply gone
    report = object_lock.refresh(sessions, s3, AGENT)
    assert [e["id"] for e in report.errors] == [missing] and "no such object" in report.errors[0]["error"]
    assert [r["id"] for r in report.locked] == [present]
    assert row(sessions, missing).lock_state is None


def test_the_sweeper_does_not_try_to_purge_before_the_lock_ends(sessions, s3):
    item_id, key = recent_item(sessions, s3, days_ago=170)  # keep-until in ten days
    object_lock.refresh(sessions, s3, AGENT)
    lock_until = row(sessions, item_id).lock_until
    # the rules shrink afterwards: the verdict moves earlier, the lock does not
    short = Rules(retain_days=30)

    def sweep(as_of: datetime) -> dict:
        return sweeper.sweep(
            sessions, s3, as_of=as_of, rules=short, grace_days=0, agent=AGENT, allow_clock_override=True
        ).as_dict()

    assert [e["id"] for e in sweep(now())["expired"]] == [item_id]
    first = sweep(now())  # expired, and no grace period: purged now, were it not locked
    assert first["deferred"] == [{"id": item_id, "lock_state": "compliance", "lock_until": retention.iso(lock_until)}]
    assert first["purged"] == first["errors"] == [] and s3.size(key) == 5
    assert sweep(now())["deferred"] == sweep(now() + timedelta(seconds=1))["deferred"]
    assert (
        sweeper.sweep(sessions, s3, as_of=now(), dry_run=True, rules=short, grace_days=0, agent=AGENT).deferred
        == first["deferred"]
    )
    with transaction(sessions) as s:
        kinds = [e.kind for e in custody.log_for(s, item_id)]
    assert "failed" not in kinds and "purged" not in kinds  # never tried: nothing refused, nothing to retry


def test_ingest_time_lock_is_provisional_and_recorded(sessions, s3):
    with transaction(sessions) as s:
        item = add_item(s, "new", recorded_end=None)  # not yet probed: no verdict
        item.received_at = now().replace(microsecond=0)
        s3.write(item.object_key, io.BytesIO(b"bytes"), 5)
        item_id, key = item.id, item.object_key
    until = now() + timedelta(days=7)
    object_lock.lock_new_original(sessions, s3, item_id, key, until, AGENT)
    item = row(sessions, item_id)
    assert item.lock_state == "compliance" and item.lock_until == object_lock.ceil_second(until)
    assert "provisional" in lock_events(sessions, item_id)[0]["why"]
    assert object_lock.refresh(sessions, s3, AGENT).locked == []  # no verdict yet: the pass waits for it
    with transaction(sessions) as s:
        retention.refresh(s, [item_id], RULES)  # counted from arrival: 180 days
    object_lock.refresh(sessions, s3, AGENT)
    assert row(sessions, item_id).lock_until == row(sessions, item_id).keep_until
