"""Password hashing with scrypt (from ``cryptography``): slow, salted, self-describing."""

from __future__ import annotations

import base64
import functools
import os
import secrets

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

N, R, P, LENGTH = 2**15, 8, 1, 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key``, a fresh salt each time."""
    salt = os.urandom(16)
    key = Scrypt(salt=salt, length=LENGTH, n=N, r=R, p=P).derive(password.encode())
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; never raises on a malformed hash."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(salt=base64.b64decode(salt), length=LENGTH, n=int(n), r=int(r), p=int(p))
        kdf.verify(password.encode(), base64.b64decode(key))
        return True
    except (ValueError, InvalidKey):
        return False


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both cases take as long."""
    return hash_password(secrets.token_urlsafe(12))


def one_time_password() -> str:
    """A random password to hand to a new user once."""
    return secrets.token_urlsafe(12)
