"""The custody log's signing key: given by configuration, or created once in the data directory.

The key signs checkpoints and export packages. The file holds the note-form private key
(``PRIVATE+KEY+<name>+<id>+<base64>``), owner-only (0600) in an owner-only folder; a key file that
others may read is refused, as ssh does, because whoever holds it can sign a rewritten history.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.checkpoint import SigningKey, generate_key, parse_signing_key
from evidence.errors import ConfigError


def load_or_create(path: Path, name: str) -> SigningKey:
    """The key in ``path``, made (0600, atomically) when the file does not exist yet."""
    path = Path(path)
    try:
        return _load(path, name)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = generate_key(name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (key.encode() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process made meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _load(path, name)


def _load(path: Path, name: str) -> SigningKey:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"signing key {path} may be read by others (mode {stat.filemode(mode)}): chmod 600 it")
    return from_text(path.read_text().strip(), name, str(path))


def from_text(text: str, name: str, where: str = "EVIDENCE_SIGNING_KEY") -> SigningKey:
    """A key given in configuration; its name must be the log's origin."""
    key = parse_signing_key(text)
    if key.name != name:
        raise ConfigError(f"signing key in {where} is named {key.name!r}, but the log origin is {name!r}")
    return key


def public_pem(key: SigningKey) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo), for ``openssl pkeyutl -verify``."""
    return key.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
