"""Checking an export package offline: every file, every custody event, the proofs and the signatures.

Nothing here reads the database or the store: only the folder and, optionally, the key the recipient
was given by another channel. Each problem is reported by name (``Failure.kind``) and place, and the
check goes on, so one run lists everything that is wrong:

    data_changed     a payload file whose SHA-256 is not the one in manifest-sha256.txt
    tag_changed      a file outside data/ whose SHA-256 is not the one in tagmanifest-sha256.txt
    missing_file     a file a manifest lists that is not there
    extra_file       a file no manifest lists
    bad_signature    tagmanifest-sha256.txt's signature does not verify with the key
    other_key        the package (or its checkpoint) is signed by another key than the one given
    bad_checkpoint   custody/checkpoint.txt is not a checkpoint signed by the key
    event_altered    a custody event line that is not the leaf its proof proves
    event_removed    a proof for an event whose line is gone
    event_added      an event line with no proof
    bad_proof        a proof that does not lead to the checkpoint's root
    item_mismatch    a data file whose hash no custody event of its item records
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from evidence import merkle
from evidence.checkpoint import Checkpoint, VerifierKey, open_checkpoint, parse_verifier_key
from evidence.errors import EvidenceError, KeyMalformed, NoteMalformed, UnknownKey

MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
SIGNATURE = "tagmanifest-sha256.txt.sig"
UNLISTED = {TAGMANIFEST, SIGNATURE}  # the only files no manifest lists
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Failure:
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.message}"


@dataclass
class Report:
    failures: list[Failure] = field(default_factory=list)
    files: int = 0
    events: int = 0
    key: str = ""
    tree_size: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, kind: str, where: str, message: str) -> None:
        self.failures.append(Failure(kind, where, message))


def load_key(text: str, bag_key: VerifierKey | None = None) -> VerifierKey:
    """A key the recipient was given: the note form (``name+id+base64``), a PEM public key, or a file
    holding either. A PEM key carries no name; the package's key name is taken for it."""
    path = Path(text)
    try:
        if len(text) < 4096 and path.is_file():
            text = path.read_text()
    except OSError:
        pass
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            public = load_pem_public_key(text.encode())
        except ValueError as exc:
            raise KeyMalformed(f"not a PEM public key: {exc}") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise KeyMalformed("the PEM key is not an Ed25519 key")
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(bag_key.name if bag_key else "unnamed", raw)
    return parse_verifier_key(text)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _manifest(bag: Path, name: str, report: Report) -> dict[str, str]:
    """``path -> sha256`` of a manifest (empty, and a failure, when it is missing)."""
    entries: dict[str, str] = {}
    try:
        text = (bag / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        report.fail("missing_file", name, "the manifest is missing")
        return entries
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, path = line.partition(" ")
        path = path.lstrip(" *")
        if len(digest) != 64 or not path or ".." in Path(path).parts or path.startswith("/"):
            report.fail("tag_changed", f"{name} line {number}", f"not a manifest line: {line!r}")
            continue
        entries[path] = digest.lower()
    return entries


def _files(bag: Path) -> Iterator[str]:
    for path in sorted(bag.rglob("*")):
        if path.is_file() or path.is_symlink():
            yield path.relative_to(bag).as_posix()


def _check_files(bag: Path, report: Report) -> tuple[dict[str, str], set[str]]:
    """Every file against the manifests; the payload manifest, and the tag files found changed."""
    payload = _manifest(bag, MANIFEST, report)
    tags = _manifest(bag, TAGMANIFEST, report)
    changed: set[str] = set()
    for listed, kind, what in ((payload, "data_changed", "payload"), (tags, "tag_changed", "tag")):
        for rel, digest in sorted(listed.items()):
            path = bag / rel
            if path.is_symlink() or not path.is_file():
                report.fail("missing_file", rel, f"listed in the {what} manifest but not in the package")
                changed.add(rel)
                continue
            found = _sha256(path)
            report.files += 1
            if found != digest:
                report.fail(kind, rel, f"SHA-256 is {found}, the manifest says {digest}")
                changed.add(rel)
    for rel in _files(bag):
        if rel in payload or rel in tags or rel in UNLISTED:
            continue
        report.fail("extra_file", rel, "in the package but in no manifest")
    return payload, changed


def _check_signature(bag: Path, given: VerifierKey | None, report: Report) -> VerifierKey | None:
    """The key to trust (the one given, else the package's own) and the tag manifest's signature."""
    own: VerifierKey | None = None
    try:
        own = parse_verifier_key((bag / "public-key.txt").read_text())
    except FileNotFoundError:
        report.fail("missing_file", "public-key.txt", "the package names no key")
    except KeyMalformed as exc:
        report.fail("tag_changed", "public-key.txt", str(exc))
    key = given or own
    if key is None:
        return None
    report.key = key.encode()
    if given is not None and own is not None and own.public_key != given.public_key:
        report.fail(
            "other_key", "public-key.txt", f"the package names key {own.encode()}, not the given {given.encode()}"
        )
    try:
        signature = (bag / SIGNATURE).read_bytes()
        message = (bag / TAGMANIFEST).read_bytes()
    except FileNotFoundError as exc:
        report.fail("missing_file", Path(exc.filename or SIGNATURE).name, "the signed tag manifest or its signature")
        return key
    if not key.verify(message, signature):
        if (
            given is not None
            and own is not None
            and own.public_key != given.public_key
            and own.verify(message, signature)
        ):
            report.fail("other_key", SIGNATURE, "signed by the package's own key, which is not the key given")
        else:
            report.fail("bad_signature", SIGNATURE, f"does not verify with {key.encode()}")
    return key


def _check_checkpoint(bag: Path, key: VerifierKey | None, report: Report) -> Checkpoint | None:
    where = "custody/checkpoint.txt"
    try:
        note = (bag / where).read_bytes()
    except FileNotFoundError:
        report.fail("missing_file", where, "no checkpoint: no custody event can be proved")
        return None
    if key is None:
        return None
    try:
        checkpoint = open_checkpoint(note, key)
    except UnknownKey as exc:
        report.fail("other_key", where, str(exc))
        return None
    except NoteMalformed as exc:
        report.fail("bad_checkpoint", where, str(exc))
        return None
    except EvidenceError as exc:  # BadSignature and the rest of NoteRejected
        report.fail("bad_checkpoint", where, str(exc))
        return None
    report.tree_size = checkpoint.size
    return checkpoint


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n") if data else []


def _check_log(
    bag: Path, rel: str, checkpoint: Checkpoint, changed: set[str], report: Report
) -> dict[int, dict[str, Any]]:
    """One custody file against its proofs and the checkpoint; its events by seq (those that verify)."""
    proofs_rel = rel.removesuffix(".jsonl") + ".proofs.jsonl"
    events = _lines(bag / rel)
    try:
        proof_lines = _lines(bag / proofs_rel)
    except FileNotFoundError:
        report.fail("missing_file", proofs_rel, "the proofs of this custody log are missing")
        return {}
    proofs: dict[int, tuple[int, dict[str, Any]]] = {}
    for number, raw in enumerate(proof_lines, 1):
        try:
            proof = json.loads(raw)
            proofs[int(proof["seq"])] = (number, proof)
        except (ValueError, KeyError, TypeError):
            report.fail("bad_proof", f"{proofs_rel} line {number}", "not a proof")
    good: dict[int, dict[str, Any]] = {}
    seen: set[int] = set()
    previous = 0
    for number, line in enumerate(events, 1):
        where = f"{rel} line {number}"
        try:
            event = json.loads(line)
            seq = int(event["seq"])
        except (ValueError, KeyError, TypeError):
            report.fail("event_altered", where, "not a custody event")
            continue
        where = f"{where} (seq {seq})"
        report.events += 1
        if seq <= previous:
            report.fail("event_altered", where, f"out of order: after seq {previous}")
        previous = max(previous, seq)
        seen.add(seq)
        if seq not in proofs:
            report.fail("event_added", where, "no proof for this event")
            continue
        proof_number, proof = proofs[seq]
        try:
            index, size = int(proof["leaf_index"]), int(proof["tree_size"])
            path = [bytes.fromhex(h) for h in proof["hashes"]]
        except (ValueError, KeyError, TypeError):
            report.fail("bad_proof", f"{proofs_rel} line {proof_number} (seq {seq})", "not a proof")
            continue
        if index != seq - 1 or size != checkpoint.size:
            report.fail(
                "bad_proof",
                f"{proofs_rel} line {proof_number} (seq {seq})",
                f"proves leaf {index} in a log of {size}, not seq {seq} in the checkpoint's {checkpoint.size}",
            )
            continue
        if merkle.verify_inclusion(merkle.leaf_hash(line), index, size, path, checkpoint.root_hash):
            good[seq] = event
            continue
        # which of the two was changed: the tag manifest says, when only one of them was
        if proofs_rel in changed and rel not in changed:
            report.fail("bad_proof", f"{proofs_rel} line {proof_number} (seq {seq})", "does not lead to the root")
        else:
            report.fail("event_altered", where, "is not the event the signed log holds at this position")
    for seq, (number, _) in sorted(proofs.items()):
        if seq not in seen:
            report.fail("event_removed", f"{rel} (seq {seq})", f"proved at {proofs_rel} line {number}, but missing")
    return good


def _check_custody(
    bag: Path, checkpoint: Checkpoint, changed: set[str], payload: dict[str, str], report: Report
) -> None:
    custody = bag / "custody"
    logs = sorted(
        p.relative_to(bag).as_posix() for p in custody.rglob("*.jsonl") if not p.name.endswith(".proofs.jsonl")
    )
    if not logs:
        report.fail("missing_file", "custody/", "no custody logs")
    by_file = {rel: _check_log(bag, rel, checkpoint, changed, report) for rel in logs}
    try:
        index = json.loads((bag / "items.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        report.fail("missing_file", "items.json", "missing or unreadable: files cannot be tied to their items")
        return
    for entry in index:
        log = by_file.get(entry.get("custody", ""))
        if log is None:
            report.fail("missing_file", str(entry.get("custody")), f"custody log of item {entry.get('item_id')}")
            continue
        path = entry.get("path")
        if not path:
            continue
        if payload.get(path) != entry.get("sha256"):
            report.fail(
                "item_mismatch", path, f"not the file item {entry.get('item_id')} recorded ({entry.get('sha256')})"
            )
        recorded = {
            str(e.get("details", {}).get("sha256", "")) if isinstance(e.get("details"), dict) else ""
            for e in log.values()
        }
        if entry.get("sha256") not in recorded:
            report.fail("item_mismatch", path, "no verified custody event of the item records this SHA-256")


def verify(bag: Path, pubkey: str | None = None) -> Report:
    """Check the export at ``bag``; ``pubkey``: the key the recipient trusts (else the package's own)."""
    bag = Path(bag)
    report = Report()
    if not (bag / "bagit.txt").is_file():
        report.fail("missing_file", "bagit.txt", "not a BagIt bag")
        return report
    given = None
    if pubkey is not None:
        own = None
        try:
            own = parse_verifier_key((bag / "public-key.txt").read_text())
        except (OSError, KeyMalformed):
            pass
        given = load_key(pubkey, own)
    payload, changed = _check_files(bag, report)
    key = _check_signature(bag, given, report)
    checkpoint = _check_checkpoint(bag, key, report)
    if checkpoint is not None:
        _check_custody(bag, checkpoint, changed, payload, report)
    return report
