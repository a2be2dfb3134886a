"""Signed checkpoints of the custody log: C2SP signed notes (c2sp.org/signed-note) whose text is a
transparency-log checkpoint (c2sp.org/tlog-checkpoint), signed with Ed25519. Pure: no storage, no clock.

A checkpoint note reads::

    <origin>
    <tree size>
    <base64 root hash>
    [extension lines]

    — <key name> <base64(4-byte key ID ‖ 64-byte Ed25519 signature)>

The key ID is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key). Keys travel as
the same strings golang.org/x/mod/sumdb/note uses, so that tool (and any other signed-note verifier) reads them:

- verifier key: ``<name>+<hex key ID>+<base64(0x01 ‖ public key)>`` (safe to publish);
- signing key: ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ 32-byte private seed)>`` (keep it secret).

Verification follows the spec: signatures by other keys are ignored, one by the trusted key (same name AND
key ID) must verify, and a note with none is rejected. Errors: ``KeyMalformed`` for a key string,
``NoteMalformed`` / ``UnknownKey`` / ``BadSignature`` for a note (all from ``evidence.errors``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from evidence.errors import BadSignature, KeyMalformed, NoteMalformed, UnknownKey

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "SigningKey",
    "VerifierKey",
    "generate_key",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_note",
    "parse_signing_key",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
]

ED25519 = 0x01
"""The signature type byte of Ed25519 in the signed-note spec."""
MAX_SIGNATURES = 100
"""More signature lines than this and the note is refused (the spec asks verifiers to accept at least 16)."""

_DASH = "\N{EM DASH} "
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_SIZE = re.compile(r"0|[1-9][0-9]*")


def _b64decode(text: str) -> bytes:
    """Strict standard base64: the alphabet, the padding, and only the canonical encoding of its bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {text!r}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"not canonical base64: {text!r}")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _valid_name(name: str) -> bool:
    """A key name: non-empty, no whitespace of any kind, no plus, no control characters."""
    return bool(name) and "+" not in name and not any(ch.isspace() or ord(ch) < 0x20 for ch in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name: what a verifier is configured with."""

    name: str
    public_key: bytes  # 32 bytes, RFC 8032 encoding

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        """``<name>+<hex key ID>+<base64(0x01 ‖ public key)>``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ED25519]) + self.public_key)}"

    def __str__(self) -> str:
        return self.encode()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class SigningKey:
    """A private key with its name. ``repr`` never shows the key."""

    name: str
    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(name={self.name!r}, key_id={self.verifier.key_id.hex()})"

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed (RFC 8032)."""
        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def verifier(self) -> VerifierKey:
        public = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, public)

    def encode(self) -> str:
        """``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>``: a secret, to store owner-only."""
        return f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.key_id.hex()}+{_b64encode(bytes([ED25519]) + self.seed)}"

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def generate_key(name: str) -> SigningKey:
    """A new Ed25519 key named ``name`` (a schema-less URL such as ``evidence.example/custody`` is advised)."""
    if not _valid_name(name):
        raise KeyMalformed(f"a key name must be non-empty, without spaces or '+': {name!r}")
    return SigningKey(name, Ed25519PrivateKey.generate())


def _split_key(text: str, what: str) -> tuple[str, bytes, bytes]:
    """``name+hexid+base64`` into (name, id, raw key bytes after the type byte), checking all but the ID."""
    parts = text.split("+", 2)  # the base64 part may hold a "+" itself
    if len(parts) != 3:
        raise KeyMalformed(f"a {what} key is <name>+<key ID>+<key>: {text!r}")
    name, hex_id, encoded = parts
    if not _valid_name(name):
        raise KeyMalformed(f"a key name must be non-empty, without spaces or '+': {name!r}")
    if not _HEX_ID.fullmatch(hex_id):
        raise KeyMalformed(f"a key ID is 8 lowercase hex digits: {hex_id!r}")
    try:
        raw = _b64decode(encoded)
    except ValueError as exc:
        raise KeyMalformed(f"the {what} key material is not base64") from exc
    if len(raw) != 33 or raw[0] != ED25519:
        raise KeyMalformed(f"the {what} key is not an Ed25519 key (type 0x01 and 32 bytes)")
    return name, bytes.fromhex(hex_id), raw[1:]


def parse_verifier_key(text: str) -> VerifierKey:
    """A verifier key string; its key ID must be the one its name and key give."""
    name, given_id, public = _split_key(text.strip(), "verifier")
    key = VerifierKey(name, public)
    if key.key_id != given_id:
        raise KeyMalformed(f"the key ID {given_id.hex()} does not match the key named {name!r}")
    return key


def parse_signing_key(text: str) -> SigningKey:
    """A signing key string (``PRIVATE+KEY+...``); its key ID must be the one its name and key give."""
    text = text.strip()
    if not text.startswith(_PRIVATE_PREFIX):
        raise KeyMalformed("a signing key starts with PRIVATE+KEY+")
    name, given_id, seed = _split_key(text[len(_PRIVATE_PREFIX) :], "signing")
    key = SigningKey(name, Ed25519PrivateKey.from_private_bytes(seed))
    if key.verifier.key_id != given_id:
        raise KeyMalformed(f"the key ID {given_id.hex()} does not match the key named {name!r}")
    return key


# --- notes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the signer's key name, its 4-byte key ID, and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {_b64encode(self.key_id + self.signature)}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteMalformed("a note's text ends with a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise NoteMalformed("a note holds no control characters but newlines")


def sign_note(text: str, key: SigningKey) -> str:
    """The signed note of ``text`` (which must end with a newline) with one signature by ``key``."""
    _check_text(text)
    signature = NoteSignature(key.name, key.verifier.key_id, key.sign(text.encode()))
    return text + "\n" + signature.line()


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, checking the format only (nothing is verified).

    The text is everything up to and including the newline before the last blank line.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteMalformed("a signed note is UTF-8") from exc
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteMalformed("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.split("\n")[:-1]  # the block ends with a newline (checked above): drop the empty tail
    if not lines:
        raise NoteMalformed("a signed note has at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteMalformed(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise NoteMalformed(f"a signature line starts with an em dash and a space: {line!r}")
        name, space, encoded = line[len(_DASH) :].rpartition(" ")
        if not space or not _valid_name(name):
            raise NoteMalformed(f"a signature line is '— <key name> <signature>': {line!r}")
        try:
            raw = _b64decode(encoded)
        except ValueError as exc:
            raise NoteMalformed(f"a signature is base64: {line!r}") from exc
        if len(raw) < 5:
            raise NoteMalformed(f"a signature is a key ID and at least one byte: {line!r}")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def open_note(note: str | bytes, verifier: VerifierKey) -> str:
    """The text of ``note`` once a signature by ``verifier`` verifies on it.

    Signatures by other keys are ignored (a name or a key ID alone is not the key); any signature by the
    trusted key that fails rejects the whole note (``BadSignature``); none at all is ``UnknownKey``.
    """
    text, signatures = parse_note(note)
    message = text.encode()
    wanted = verifier.key_id
    ours = [s for s in signatures if s.name == verifier.name and s.key_id == wanted]
    if not ours:
        found = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)
        raise UnknownKey(f"not signed by {verifier.name}+{wanted.hex()} (signed by {found})")
    for s in ours:
        if not verifier.verify(message, s.signature):
            raise BadSignature(f"the signature by {verifier.name}+{wanted.hex()} does not verify")
    return text


# --- checkpoints --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's size and root hash under its origin, plus optional extension lines (signed with the rest)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or any(ord(ch) < 0x20 for ch in self.origin):
            raise NoteMalformed(f"a checkpoint's origin is one non-empty line: {self.origin!r}")
        if self.size < 0:
            raise NoteMalformed(f"a tree size is not negative: {self.size}")
        if len(self.root_hash) != 32:
            raise NoteMalformed(f"a root hash is 32 bytes, not {len(self.root_hash)}")
        for line in self.extensions:
            if not line or any(ord(ch) < 0x20 for ch in line):
                raise NoteMalformed(f"an extension line is one non-empty line: {line!r}")

    def body(self) -> str:
        """The note text: origin, size, base64 root, then the extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint from its note text (already verified, or not: this only reads the format)."""
        if not text.endswith("\n"):
            raise NoteMalformed("a checkpoint's text ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteMalformed("a checkpoint has an origin, a tree size and a root hash, one a line")
        origin, size, encoded_root, *extensions = lines
        if not _SIZE.fullmatch(size):
            raise NoteMalformed(f"a tree size is a decimal number without leading zeros: {size!r}")
        try:
            root_hash = _b64decode(encoded_root)
        except ValueError as exc:
            raise NoteMalformed(f"a root hash is base64: {encoded_root!r}") from exc
        return cls(origin, int(size), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> str:
    """The signed note of ``checkpoint`` by ``key``."""
    return sign_note(checkpoint.body(), key)


def open_checkpoint(note: str | bytes, verifier: VerifierKey, origin: str | None = None) -> Checkpoint:
    """The checkpoint in ``note`` once its signature by ``verifier`` verifies; ``origin`` too when given."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise NoteMalformed(f"a checkpoint of {checkpoint.origin!r}, not of {origin!r}")
    return checkpoint
