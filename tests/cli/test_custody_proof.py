"""Checkpoints, the public key, verification and per-item proofs at the console."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat

from evidence import merkle
from evidence.checkpoint import open_checkpoint, parse_verifier_key
from tests.cli.test_main import lines
from tests.media import drop


def test_sign_prove_and_verify_the_log_at_the_console(cli, clips):
    item = lines(cli("ingest", str(drop(clips["h264"], cli.home / "upload", "ZFY0001/a.mp4"))))[0]["item_id"]
    key_file = cli.home / "keys" / "custody.key"
    note = cli("custody", "checkpoint").stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # made at first use, owner-only
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    pubkey = cli("custody", "pubkey").stdout.strip()
    verifier = parse_verifier_key(pubkey)
    signed = open_checkpoint(note, verifier, "evidence.local/custody")
    assert "-----BEGIN PUBLIC KEY-----" in cli("custody", "pubkey", "--pem").stdout
    assert "has not grown" in cli("custody", "checkpoint").stdout

    bundle = json.loads(cli("custody", "log", str(item), "--proof", "--json").stdout)
    assert bundle["public_key"] == pubkey and bundle["checkpoint"]["tree_size"] == signed.size
    assert len(bundle["events"]) >= 5
    for ev in bundle["events"]:  # what a recipient does: hash the leaf, walk the path, compare with the signed root
        leaf = merkle.leaf_hash(ev["leaf"].encode())
        assert leaf.hex() == ev["hash"] == hashlib.sha256(b"\0" + ev["leaf"].encode()).hexdigest()
        p = ev["proof"]
        hashes = [bytes.fromhex(h) for h in p["hashes"]]
        assert merkle.verify_inclusion(leaf, p["leaf_index"], p["tree_size"], hashes, signed.root_hash)
        assert json.loads(ev["leaf"])["seq"] == ev["seq"] and json.loads(ev["leaf"])["item"] == item

    verified = cli("custody", "verify")
    assert "custody log intact" in verified.stdout and "1 checkpoints matched" in verified.stdout
    cli("ingest", str(drop(clips["h265"], cli.home / "upload", "ZFY0001/b.mp4")))
    cli("custody", "checkpoint")
    since = cli("custody", "verify", "--since-checkpoint").stdout
    assert f"from event {signed.size + 1}" in since

    with sqlite3.connect(cli.home / "evidence.db") as db:
        db.execute("UPDATE custody_events SET agent = 'someone else' WHERE seq = 3")
    broken = cli("custody", "verify", ok=False)
    assert broken.returncode == 8 and "BROKEN at event 3" in broken.stderr
    other = cli("custody", "verify", "--pubkey", "evidence.local/custody+00000000+AQ" + "A" * 43, ok=False)
    assert other.returncode != 0


def test_a_recomputed_database_is_caught_by_the_stored_checkpoints(cli, clips):
    from evidence import custody_tree

    cli("ingest", str(drop(clips["h264"], cli.home / "upload", "ZFY0001/a.mp4")))
    cli("custody", "checkpoint")
    with sqlite3.connect(cli.home / "evidence.db") as db:  # an insider rewrites event 2 and every hash after it
        db.execute("UPDATE custody_events SET agent = 'someone else' WHERE seq = 2")
        db.execute("DELETE FROM custody_nodes")
        db.execute("DELETE FROM custody_checkpoints")
    _recompute(cli.home / "evidence.db", custody_tree)
    broken = cli("custody", "verify", ok=False)
    assert broken.returncode == 8 and "event 2" in broken.stderr and "rewritten" in broken.stderr


def _recompute(db_path, custody_tree):
    from evidence.adapters.database import make_engine, make_sessionmaker
    from evidence.models import CustodyEvent
    from evidence.unit_of_work import transaction

    engine = make_engine(f"sqlite:///{db_path}")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            prev, leaves = "0" * 64, []
            for ev in session.query(CustodyEvent).order_by(CustodyEvent.seq).all():
                leaf = custody_tree.leaf_of(ev)
                ev.prev_hash, ev.hash = prev, leaf.hex()
                session.flush()
                prev = ev.hash
                leaves.append(leaf)
            custody_tree.store_nodes(session, leaves)
    finally:
        engine.dispose()
