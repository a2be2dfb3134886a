"""The retention sweeper with a controllable clock (--as-of), on SQLite and PostgreSQL, folder and S3 stores."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from evidence import cases, custody, custody_verify, holds, sweeper
from evidence.errors import Forbidden
from evidence.models import Item
from evidence.retention import Rules
from evidence.unit_of_work import transaction
from storage_config.provision import open_store, provision
from tests.evidence.retention_world import AGENT, add_case, add_item, day

RULES = Rules(retain_days=180, important_days=1095, after_case_days=30)
GRACE = 7


@pytest.fixture(params=["file", "s3"])
def store(request, make_settings):
    url = {} if request.param == "file" else {"storage_url": request.getfixturevalue("moto").url()}
    s = open_store(make_settings(**url))
    provision(s)
    return s


def put_media(store, item: Item) -> None:
    for key in (item.object_key, item.proxy_key, item.poster_key):
        store.write(key, io.BytesIO(b"bytes"), 5)


def run(sessions, store, n: float, dry_run=False, rules=RULES):
    return sweeper.sweep(
        sessions,
        store,
        as_of=day(n),
        dry_run=dry_run,
        rules=rules,
        grace_days=GRACE,
        agent=AGENT,
        allow_clock_override=True,
    ).as_dict()


def status(sessions, item_id) -> str:
    with transaction(sessions) as s:
        return s.get_one(Item, item_id).status


def test_ordinary_expiry_grace_then_purge_leaves_a_tombstone(any_sessions, store):
    with transaction(any_sessions) as s:
        item = add_item(s, "a")
        young = add_item(s, "young", recorded_end=day(100))
        put_media(store, item)
        ids = item.id, young.id
    assert run(any_sessions, store, 179)["expired"] == []
    dry = run(any_sessions, store, 180, dry_run=True)
    assert status(any_sessions, ids[0]) == "ready"  # a dry run changes nothing
    real = run(any_sessions, store, 180)
    assert {k: v for k, v in real.items() if k != "dry_run"} == {k: v for k, v in dry.items() if k != "dry_run"}
    assert real["expired"] == [{"id": ids[0], "class": "ordinary", "keep_until": "2026-07-09T12:00:00Z"}]
    assert status(any_sessions, ids[0]) == "expired" and store.size(item.object_key) == 5  # still retrievable
    assert run(any_sessions, store, 186)["purged"] == []  # grace period
    dry = run(any_sessions, store, 187, dry_run=True)
    real = run(any_sessions, store, 187)
    assert real["purged"] == dry["purged"] == [{"id": ids[0], "expired_at": "2026-07-09T12:00:00Z"}]
    assert real["errors"] == [] and status(any_sessions, ids[1]) == "ready"
    for key in (item.object_key, item.proxy_key, item.poster_key):
        assert store.size(key) is None
    with transaction(any_sessions) as s:
        tomb = s.get_one(Item, ids[0])
        assert (tomb.status, tomb.sha256, tomb.size_bytes) == ("purged", item.sha256, item.size_bytes)
        assert tomb.purged_at == day(187) and tomb.recorded_end == item.recorded_end
        kinds = [e.kind for e in custody.log_for(s, ids[0])]
        assert kinds == ["expired", "purged"]
        assert custody_verify.verify(s).ok
        assert [i.id for i in s.query(Item).filter_by(status="purged")] == [ids[0]]  # tombstones listed
    assert run(any_sessions, store, 400)["purged"] == []  # purged is final


def test_case_link_keeps_then_closing_starts_the_clock(any_sessions, store):
    with transaction(any_sessions) as s:
        item = add_item(s, "a")
        case = add_case(s)
        cases.link(s, case, item, "evidence", "sup1", AGENT, rules=RULES)
        item_id, case_id = item.id, case.id
    assert run(any_sessions, store, 5000)["expired"] == []  # an open case: whatever the dates say
    with transaction(any_sessions) as s:
        case = s.get_one(cases.Case, case_id)
        cases.update_case(s, case, AGENT, status="closed", rules=RULES)
        case.closed_at = day(300)  # closed on a known day
        from evidence import retention

        retention.refresh(s, [item_id], RULES)
    assert run(any_sessions, store, 329)["expired"] == []
    assert run(any_sessions, store, 330)["expired"] == [
        {"id": item_id, "class": "case", "keep_until": "2026-12-06T12:00:00Z"}
    ]


def test_hold_blocks_and_a_later_hold_restores(any_sessions, store):
    with transaction(any_sessions) as s:
        held, later = add_item(s, "held"), add_item(s, "later", error="probe: bad")
        later.status = "media_error"
        holds.place(s, item=held, reason="court order", by="sup1", agent=AGENT, rules=RULES)
        ids = held.id, later.id
    report = run(any_sessions, store, 200)
    assert [e["id"] for e in report["expired"]] == [ids[1]]
    with transaction(any_sessions) as s:
        holds.place(s, item=s.get_one(Item, ids[1]), reason="appeal", by="sup1", agent=AGENT, rules=RULES)
        restored = s.get_one(Item, ids[1])
        assert (restored.status, restored.error, restored.expired_at) == ("media_error", "probe: bad", None)
        assert [e.kind for e in custody.log_for(s, ids[1])][-2:] == ["hold_placed", "restored"]
    assert run(any_sessions, store, 5000) == {
        "as_of": "2039-09-19T12:00:00Z",
        "dry_run": False,
        "expired": [],
        "purged": [],
        "restored": [],
        "deferred": [],
        "errors": [],
    }


def test_important_extends_and_a_mark_restores_an_expired_item(any_sessions, store):
    with transaction(any_sessions) as s:
        item = add_item(s, "a")
        item_id = item.id
    assert [e["id"] for e in run(any_sessions, store, 181)["expired"]] == [item_id]
    with transaction(any_sessions) as s:
        cases.add_mark(s, s.get_one(Item, item_id), "important", None, "sup1", AGENT, rules=RULES)
    assert status(any_sessions, item_id) == "ready"
    assert run(any_sessions, store, 1094)["expired"] == []
    assert run(any_sessions, store, 1095)["expired"] == [
        {"id": item_id, "class": "important", "keep_until": "2029-01-09T12:00:00Z"}
    ]


def test_the_sweep_restores_when_the_rules_lengthen(any_sessions, store):
    with transaction(any_sessions) as s:
        item_id = add_item(s, "a").id
    run(any_sessions, store, 181)
    report = run(any_sessions, store, 182, rules=Rules(retain_days=365))
    assert report["restored"] == [{"id": item_id, "because": "ordinary footage: 365 days from recording 2026-01-10"}]
    assert status(any_sessions, item_id) == "ready"


def test_a_future_as_of_is_refused_for_a_real_run_unless_allowed(sessions, store):
    kwargs = dict(rules=RULES, grace_days=GRACE, agent=AGENT, as_of=day(100_000))
    with pytest.raises(Forbidden, match="EVIDENCE_ALLOW_CLOCK_OVERRIDE"):
        sweeper.sweep(sessions, store, **kwargs)
    assert sweeper.sweep(sessions, store, dry_run=True, **kwargs).dry_run
    with transaction(sessions) as s:
        item_id = add_item(s, "a").id
    sweeper.sweep(sessions, store, allow_clock_override=True, **kwargs)
    with transaction(sessions) as s:
        (event,) = [e for e in custody.log_for(s, item_id) if e.kind == "expired"]
        assert "clock_override" in event.details


def test_a_refused_delete_is_reported_and_retried(sessions, make_settings, tmp_path):
    store = open_store(make_settings())
    provision(store)
    with transaction(sessions) as s:
        item = add_item(s, "a")
        put_media(store, item)
        item_id = item.id
    run(sessions, store, 181)
    # the original replaced by a folder: the store refuses to delete it (as S3 object lock would)
    original = store.root / item.object_key
    original.chmod(0o644)
    original.unlink()
    (original / "in-the-way").mkdir(parents=True)
    report = run(sessions, store, 190)
    assert report["purged"] == [] and [e["id"] for e in report["errors"]] == [item_id]
    assert status(sessions, item_id) == "expired"
    (original / "in-the-way").rmdir()
    original.rmdir()
    assert [p["id"] for p in run(sessions, store, 191)["purged"]] == [item_id]
    with transaction(sessions) as s:
        assert [e.kind for e in custody.log_for(s, item_id)] == ["expired", "failed", "purged"]


def test_dry_run_equals_the_real_run_across_a_mixed_population(any_sessions, store):
    with transaction(any_sessions) as s:
        for n in range(6):
            add_item(s, f"i{n}", recorded_end=day(-30 * n))
    run(any_sessions, store, 170)
    for n in (180, 200, 260):
        dry = run(any_sessions, store, n, dry_run=True)
        real = run(any_sessions, store, n)
        dry.pop("dry_run"), real.pop("dry_run")
        assert dry == real
    assert timedelta(days=GRACE)  # the grace period is what separates expiry and purge above


def test_an_object_the_s3_store_refuses_to_delete_is_reported_and_retried(sessions, make_settings, moto):
    """S3 object lock (a legal hold on the object's version, set on the server) refuses the purge's delete."""
    store = open_store(make_settings(storage_url=moto.url()))
    store.client.make_bucket(bucket_name=store.bucket, object_lock=True)
    provision(store)
    with transaction(sessions) as s:
        item = add_item(s, "a")
        put_media(store, item)
        item_id, key = item.id, item.object_key
    store.client.enable_object_legal_hold(bucket_name=store.bucket, object_name=key)
    run(sessions, store, 181)
    report = run(sessions, store, 190)
    assert report["purged"] == [] and [e["id"] for e in report["errors"]] == [item_id]
    assert status(sessions, item_id) == "expired" and store.size(key) == 5  # nothing half-purged
    store.client.disable_object_legal_hold(bucket_name=store.bucket, object_name=key)
    assert [p["id"] for p in run(sessions, store, 191)["purged"]] == [item_id]
    versions = store.client.list_objects(bucket_name=store.bucket, prefix=key, include_version=True)
    assert status(sessions, item_id) == "purged" and [v.object_name for v in versions] == []
