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


MIN_LENGTH, MAX_LENGTH, MIN_CLASSES = 12, 256, 2
# Long enough to pass the length rule, so the rule alone would let them through.
COMMON = frozenset(
    {
        "password1234",
        "password12345",
        "password123!",
        "passw0rd1234",
        "p@ssw0rd1234",
        "p@ssword1234",
        "qwerty123456",
        "qwertyuiop123",
        "1qaz2wsx3edc",
        "1q2w3e4r5t6y",
        "zaq12wsxcde3",
        "abc123456789",
        "123456789abc",
        "a1b2c3d4e5f6",
        "admin1234567",
        "administrator1",
        "iloveyou1234",
        "welcome12345",
        "changeme1234",
        "letmein12345",
        "evidence1234",
        "police123456",
        "11111111aaaa",
        "aaaaaa111111",
    }
)


def policy_problem(password: str, username: str) -> str | None:
    """Why ``password`` may not be chosen by ``username``, or None when it may (the policy in
    docs/operations.md)."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    classes = sum(
        any(test(c) for c in password)
        for test in (
            lambda c: c.isascii() and c.islower(),
            lambda c: c.isascii() and c.isupper(),
            str.isdigit,
            lambda c: not (c.isascii() and c.isalnum()),
        )
    )
    if classes < MIN_CLASSES:
        return "mix at least two of: lower-case letters, capitals, digits, other characters"
    folded = password.casefold()
    name = username.casefold()
    if name and (folded == name or (len(name) >= 4 and name in folded)):
        return "must not contain the username"
    if folded in COMMON:
        return "too common a password"
    return None
