"""Case export packages end to end: requested through the API, made by the worker with a real ffmpeg clip,
downloaded, checked with bagit, case_validate, sha256sum and openssl alone, then tampered with."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import bagit
import pytest
from sqlalchemy import select

from evidence import export_verify
from evidence.checkpoint import generate_key
from evidence.errors import IntegrityFailure
from evidence.models import CustodyEvent, Export
from evidence.unit_of_work import transaction
from ingest import worker
from tests.api.conftest import denials, events

BIN = Path(sys.executable).parent


def _case_with_clip(world) -> dict:
    """Case C-EXP with item a linked and an evidence clip cut from it by the worker (real ffmpeg)."""
    c, a, rt = world["clients"], world["ids"]["a"], world["rt"]
    case = c["rev1"].post("/api/v1/cases", json={"number": "C-EXP", "title": "港口 export"}).json()
    r = c["rev1"].post(f"/api/v1/cases/{case['id']}/items", json={"item_id": a, "reason": "seen at the scene"})
    assert r.status_code == 201, r.text
    r = c["rev1"].post(f"/api/v1/items/{a}/clips", json={"start_s": 0.5, "end_s": 1.5, "case_id": case["id"]})
    assert r.status_code == 202, r.text
    worker.drain(rt)
    clip = c["rev1"].get(f"/api/v1/clips/{r.json()['clip_request_id']}").json()
    assert clip["status"] == "done", clip
    return {"case": case, "clip_id": clip["item_id"]}


def _export(world, case_id: int, who: str = "rev1", **body) -> dict:
    c = world["clients"]
    r = c[who].post(f"/api/v1/cases/{case_id}/exports", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "queued"
    worker.drain(world["rt"])
    done = c[who].get(f"/api/v1/cases/{case_id}/exports/{r.json()['id']}").json()
    assert done["state"] == "done", done
    return done


def _download(world, case_id: int, export_id: int, into: Path) -> Path:
    r = world["clients"]["rev1"].get(f"/api/v1/cases/{case_id}/exports/{export_id}/download")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:") as tar:
        tar.extractall(into, filter="data")
    (root,) = list(into.iterdir())
    return root


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("world", ["file", "s3", "pg"], indirect=True)
def test_export_is_a_signed_bag_checkable_without_our_software(world, tmp_path):
    rt, a = world["rt"], world["ids"]["a"]
    made = _case_with_clip(world)
    case_id, clip_id = made["case"]["id"], made["clip_id"]
    done = _export(world, case_id, with_proxies=True)
    assert done["items"] == 2 and done["bytes"] > 0 and done["case_number"] == "C-EXP"
    bag = _download(world, case_id, done["id"], tmp_path / "got")
    with transaction(rt.sessions) as session:
        downloads = session.scalars(
            select(CustodyEvent).where(CustodyEvent.case_id == case_id, CustodyEvent.kind == "export_downloaded")
        ).all()
        assert [json.loads(e.details)["export_id"] for e in downloads] == [done["id"]]

    # the bagit library alone: structure, completeness and every hash
    assert bagit.Bag(str(bag)).validate()
    info = bagit.Bag(str(bag)).info
    assert info["External-Identifier"] == "C-EXP" and info["Case-Title"] == "港口 export"
    assert info["Exported-By"] == "rev1" and info["Item-Count"] == "2" and info["Source-Organization"] == "U1"
    names = sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file())
    # <recorded local time (station zone)>_<device>_<id>.<ext>
    assert f"data/originals/2026-11-01_160000+0800_ZFY0001_{a}.mp4" in names, names
    assert any(re.fullmatch(rf"data/clips/2026-11-01_160000\+0800_ZFY0001_{clip_id}\.mp4", n) for n in names), names
    assert any(n.startswith("data/proxies/") for n in names)
    original = bag / f"data/originals/2026-11-01_160000+0800_ZFY0001_{a}.mp4"
    assert original.read_bytes() == world["clips"]["h264"].read_bytes()

    # the README's commands, as a recipient runs them
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        proc = _run(["sha256sum", "-c", manifest], cwd=bag)
        assert proc.returncode == 0 and "FAILED" not in proc.stdout, proc.stdout + proc.stderr
    readme = (bag / "README.txt").read_text()
    assert "openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin" in readme
    if shutil.which("openssl"):
        command = readme.split("       openssl ", 1)[1].splitlines()[0]
        proc = _run(["openssl", *command.split()], cwd=bag)
        assert proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout, proc.stdout + proc.stderr

    # case_validate (case-utils) on the CASE/UCO graph
    proc = _run([str(BIN / "case_validate"), str(bag / "case.jsonld")])
    assert proc.returncode == 0 and "Conforms: True" in proc.stdout, proc.stdout + proc.stderr
    graph = json.loads((bag / "case.jsonld").read_text())["@graph"]
    types = [n["@type"] for n in graph]
    assert types.count("uco-observable:File") == 4 and "uco-tool:Tool" in types
    clip_action = next(n for n in graph if n.get("uco-core:name") == "cut evidence clip")
    assert clip_action["@type"] == "case-investigation:InvestigativeAction"

    # each custody line is a leaf: sha256(0x00 + line) is what the proof starts from
    lines = (bag / f"custody/items/{a}.jsonl").read_bytes().splitlines()
    assert all(json.loads(line)["item"] == a for line in lines)
    kinds = [json.loads(line)["kind"] for line in lines]
    assert kinds[:4] == ["received", "hashed", "stored", "verified"] and "export_requested" in kinds
    assert "exported" not in kinds  # appended after the checkpoint (README says so)

    report = export_verify.verify(bag)
    assert report.ok, [str(f) for f in report.failures]
    assert report.events > len(lines) and report.tree_size

    # recorded: requested and made, on the case and on each item
    for item in (a, clip_id):
        assert len(events(rt, item, "export_requested")) == 1 and len(events(rt, item, "exported")) == 1
    made_event = json.loads(events(rt, a, "exported")[0].details)
    tagmanifest = (bag / "tagmanifest-sha256.txt").read_bytes()
    assert made_event["tagmanifest_sha256"] == hashlib.sha256(tagmanifest).hexdigest()


def _flip(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _drop_line(path: Path, number: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[number - 1]
    path.write_bytes(b"".join(lines))


def _edit_line(path: Path, number: int, old: bytes, new: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path.write_bytes(b"".join(lines))


def test_each_tamper_is_caught_and_named(world, tmp_path):
    a = world["ids"]["a"]
    made = _case_with_clip(world)
    case_id = made["case"]["id"]
    done = _export(world, case_id)
    pristine = _download(world, case_id, done["id"], tmp_path / "got")
    key = (pristine / "public-key.txt").read_text().strip()
    assert export_verify.verify(pristine, key).ok
    original = next((pristine / "data/originals").iterdir()).relative_to(pristine).as_posix()
    item_log = f"custody/items/{a}.jsonl"
    other = generate_key(key.split("+")[0]).verifier.encode()

    tampers = {
        # name: (what to do to the copy, the failure kind expected, where it is named)
        "flip a byte": (lambda b: _flip(b / original), "data_changed", original),
        "remove a data file": (lambda b: (b / original).unlink(), "missing_file", original),
        "add a file": (lambda b: (b / "data/originals/extra.mp4").write_bytes(b"x"), "extra_file", "extra.mp4"),
        "add a tag file": (lambda b: (b / "custody/notes.txt").write_text("x"), "extra_file", "custody/notes.txt"),
        "remove an event": (lambda b: _drop_line(b / item_log, 3), "event_removed", item_log),
        "alter an event": (
            lambda b: _edit_line(b / item_log, 1, b'"agent":"', b'"agent":"X'),
            "event_altered",
            f"{item_log} line 1 (seq",
        ),
        "corrupt a proof": (
            lambda b: _edit_line(b / item_log.replace(".jsonl", ".proofs.jsonl"), 2, b'"hashes":["', b'"hashes":["00'),
            "bad_proof",
            "proofs.jsonl line 2",
        ),
        "corrupt the signature": (lambda b: _flip(b / "tagmanifest-sha256.txt.sig", 5), "bad_signature", ".sig"),
    }
    for name, (tamper, kind, where) in tampers.items():
        bag = tmp_path / name.replace(" ", "-")
        shutil.copytree(pristine, bag)
        tamper(bag)
        report = export_verify.verify(bag, key)
        found = [f for f in report.failures if f.kind == kind and where in f.where]
        assert found, (name, [str(f) for f in report.failures])
    # a key swap: the package checked with a key the recipient trusts that did not sign it
    report = export_verify.verify(pristine, other)
    kinds = {f.kind for f in report.failures}
    assert "other_key" in kinds and not report.ok, [str(f) for f in report.failures]
    assert any(f.where == "custody/checkpoint.txt" for f in report.failures if f.kind == "other_key")

    # the command: exit 8 (custody broken), each failure named
    env = {**os.environ, "EVIDENCE_LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [str(BIN / "evidence"), "verify-export", str(tmp_path / "flip-a-byte"), "--pubkey", key],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 8 and f"data_changed: {original}" in proc.stderr, proc.stderr
    (tmp_path / "key.pem").write_bytes((pristine / "public-key.pem").read_bytes())
    proc = subprocess.run(
        [str(BIN / "evidence"), "verify-export", str(pristine), "--pubkey", str(tmp_path / "key.pem")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0 and "export intact" in proc.stdout, proc.stderr


def test_who_may_export_and_download(world, tmp_path):
    c = world["clients"]
    case_id = c["rev1"].post("/api/v1/cases", json={"number": "C-P", "title": "p"}).json()["id"]
    c["rev1"].post(f"/api/v1/cases/{case_id}/items", json={"item_id": world["ids"]["a"], "reason": "linked"})
    for who, status in (("rev2", 404), ("off1", 404), ("aud", 403), ("adm", 404)):
        before = len(denials(world["rt"], "case_export"))
        r = c[who].post(f"/api/v1/cases/{case_id}/exports", json={})
        assert r.status_code == status, (who, r.text)
        assert len(denials(world["rt"], "case_export")) == before + 1
    # a reviewer of another unit assigned to the case may; and a supervisor of its unit
    c["sup1"].post(f"/api/v1/cases/{case_id}/reviewers", json={"username": "rev3"})
    r = c["rev3"].post(f"/api/v1/cases/{case_id}/exports", json={})
    assert r.status_code == 202, r.text
    queued = r.json()
    # not ready yet: a conflict, not a half package
    r = c["rev3"].get(f"/api/v1/cases/{case_id}/exports/{queued['id']}/download")
    assert r.status_code == 409, r.text
    worker.drain(world["rt"])
    assert c["sup1"].get(f"/api/v1/cases/{case_id}/exports/{queued['id']}").json()["state"] == "done"
    assert c["aud"].get(f"/api/v1/cases/{case_id}/exports/{queued['id']}").status_code == 200
    assert c["aud"].get(f"/api/v1/cases/{case_id}/exports/{queued['id']}/download").status_code == 403
    assert c["rev2"].get(f"/api/v1/cases/{case_id}/exports/{queued['id']}").status_code == 404
    assert c["sup1"].get(f"/api/v1/cases/{case_id}/exports/999").status_code == 404
    with transaction(world["rt"].sessions) as session:
        row = session.get(Export, queued["id"])
        assert row.requested_by == "rev3" and row.path.startswith(f"exports/export-{queued['id']}/")


@pytest.mark.parametrize("world", ["file", "s3"], indirect=True)
def test_an_export_is_kept_in_the_store_for_whichever_api_replica_is_asked(world, tmp_path):
    """Nothing of the package stays on the worker's disk: the API streams it from the store, checking each
    file against the package's listing, and stops a download whose bytes no longer match."""
    case_id = _case_with_clip(world)["case"]["id"]
    done = _export(world, case_id, with_proxies=True)
    store = world["rt"].ready_store()
    assert not [p.name for p in store.staging_dir().iterdir() if "export" in p.name]
    with transaction(world["rt"].sessions) as session:
        listing_key = session.get_one(Export, done["id"]).path
    listing = json.loads(b"".join(store.iter_chunks(listing_key)))
    by_path = {e["path"]: e for e in listing["entries"]}
    originals = [e for p, e in by_path.items() if p.startswith("data/originals/")]
    assert originals and all(e["key"].startswith("originals/sha256/") for e in originals)  # not copied again
    (proxy,) = [e for p, e in by_path.items() if p.startswith("data/proxies/")][:1]
    assert proxy["key"].startswith(listing_key.removesuffix("package.json"))  # a proxy may be remade: its own copy
    root = _download(world, case_id, done["id"], tmp_path / "got")
    assert export_verify.verify(root).ok
    assert hashlib.sha256((root / "bag-info.txt").read_bytes()).hexdigest() == by_path["bag-info.txt"]["sha256"]

    # someone with write access to the store changes a tag file of the package: the download stops
    tampered = by_path["README.txt"]["key"]
    text = b"".join(store.iter_chunks(tampered)).replace(b"README", b"READYOU")
    store.delete(tampered)
    store.write(tampered, io.BytesIO(text), len(text))
    with pytest.raises(Exception) as caught:  # the test client re-raises what cut the response short
        world["clients"]["rev1"].get(f"/api/v1/cases/{case_id}/exports/{done['id']}/download")
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, IntegrityFailure) and "README.txt" in str(e) for e in chain), chain


def test_export_at_the_console(world, tmp_path):
    """`evidence export --case` on the station (same home as the world): a package, the events, exit codes."""
    made = _case_with_clip(world)
    settings = world["rt"].settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    env.update(EVIDENCE_HOME=str(settings.home), EVIDENCE_STATION_ID="ST01", EVIDENCE_LOG_LEVEL="WARNING")
    out = tmp_path / "pkg"

    def evidence(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "evidence"), *args], env=env, capture_output=True, text=True, timeout=300)

    proc = evidence("export", "--case", "C-EXP", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "2 items" in proc.stdout and str(out) in proc.stdout
    assert bagit.Bag(str(out)).validate()
    proc = evidence("verify-export", str(out), "--pubkey", (out / "public-key.txt").read_text().strip())
    assert proc.returncode == 0 and "export intact" in proc.stdout, proc.stderr
    # never over an existing folder; an unknown case is not found
    assert evidence("export", "--case", "C-EXP", "--out", str(out)).returncode == 2
    assert evidence("export", "--case", "NOPE", "--out", str(tmp_path / "x")).returncode == 4
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.partial"))
    exported = events(world["rt"], made["clip_id"], "exported")
    assert len(exported) == 1 and json.loads(exported[0].details)["package"] == "pkg"
