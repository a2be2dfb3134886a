"""GET /api/v1/items/{id}/custody?proof=true: each event with its inclusion proof, checkable offline."""

from __future__ import annotations

import pytest

from evidence import merkle
from evidence.checkpoint import open_checkpoint, parse_verifier_key
from ingest.checkpointing import checkpoint_once


@pytest.mark.parametrize("world", ["file", "pg"], indirect=True)
def test_proofs_verify_against_the_signed_checkpoint(world):
    rt, item = world["rt"], world["ids"]["a"]
    client = world["clients"]["rev1"]
    assert client.get(f"/api/v1/items/{item}/custody?proof=true").json()["checkpoint"] is None
    checkpoint_once(rt)
    assert client.get(f"/api/v1/items/{item}/poster").status_code == 200  # one more event, after the checkpoint
    body = client.get(f"/api/v1/items/{item}/custody", params={"proof": "true"}).json()
    verifier = parse_verifier_key(body["public_key"])
    assert body["public_key"] == rt.signer().verifier.encode()
    signed = open_checkpoint(body["checkpoint"]["note"], verifier, rt.settings.log_origin)
    assert signed.size == body["checkpoint"]["tree_size"]
    proven = [e for e in body["events"] if e["proof"] is not None]
    pending = [e for e in body["events"] if e["proof"] is None]
    assert len(proven) >= 5 and [e["kind"] for e in pending] == ["media_viewed"]
    assert all(e["seq"] > signed.size for e in pending)
    for ev in proven:
        leaf = merkle.leaf_hash(ev["leaf"].encode())
        proof = [bytes.fromhex(h) for h in ev["proof"]["hashes"]]
        assert leaf.hex() == ev["hash"]
        assert merkle.verify_inclusion(leaf, ev["seq"] - 1, signed.size, proof, signed.root_hash)
        assert not merkle.verify_inclusion(leaf, ev["seq"] - 1, signed.size, proof, bytes(32))
    plain = client.get(f"/api/v1/items/{item}/custody").json()
    assert [e["seq"] for e in plain] == [e["seq"] for e in body["events"]]
    assert all({"occurred_at", "recorded_at", "format"} <= set(e) for e in plain)


def test_proofs_are_refused_to_whom_the_log_is(world):
    r = world["clients"]["off1"].get(f"/api/v1/items/{world['ids']['b']}/custody?proof=true")
    assert r.status_code in (403, 404) and "error" in r.json()
