"""Sign-in throttling: per account and client address, so a stranger cannot lock the owner out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from evidence import users
from evidence.db import transaction
from evidence.errors import AuthFailed
from evidence.models import SignInThrottle, utcnow


@pytest.fixture
def owner(any_sessions):
    with transaction(any_sessions) as session:
        password = users.add_user(session, "li.wei", ["reviewer"], "U1")[1]
    return any_sessions, password


def sign_in(sessions, password, source, now=None):
    """What the API does: the failure count commits although the sign-in fails."""
    with transaction(sessions) as session:
        try:
            return users.authenticate(session, "li.wei", password, source, now).username
        except AuthFailed as exc:
            return exc


def test_a_stranger_guessing_is_slowed_but_the_owner_signs_in_from_elsewhere(owner):
    sessions, password = owner
    results = [sign_in(sessions, "guess", "203.0.113.9") for _ in range(6)]
    assert all(isinstance(r, AuthFailed) for r in results)
    assert [r.retry_after for r in results[:4]] == [None] * 4  # free failures, then a wait
    assert results[5].retry_after and results[5].retry_after >= 1
    locked = sign_in(sessions, password, "203.0.113.9")
    assert isinstance(locked, AuthFailed) and locked.retry_after, "even the right password waits there"
    assert sign_in(sessions, password, "10.1.2.3") == "li.wei"
    # the owner's success clears the stranger's count as well: the account is back to normal
    assert sign_in(sessions, password, "203.0.113.9") == "li.wei"


def test_the_wait_grows_and_is_capped_at_15_minutes(owner):
    sessions, _ = owner
    start, waits = utcnow(), []
    for i in range(14):
        now = start + timedelta(hours=i)  # each try after the last wait is over
        assert isinstance(sign_in(sessions, "guess", "203.0.113.9", now), AuthFailed)
        with transaction(sessions) as session:
            pair = session.scalars(select(SignInThrottle)).one()
            waits.append(None if pair.locked_until is None else (pair.locked_until - now).total_seconds())
    assert waits[:3] == [None] * 3
    assert waits[3:8] == [2, 4, 8, 16, 32]
    assert waits[-1] == 15 * 60


def test_guessing_from_many_addresses_locks_the_account_everywhere(owner):
    sessions, password = owner
    for i in range(users.ACCOUNT_FREE_FAILURES + 1):
        assert isinstance(sign_in(sessions, "guess", f"198.51.100.{i}"), AuthFailed)
    locked = sign_in(sessions, password, "10.1.2.3")
    assert isinstance(locked, AuthFailed) and locked.retry_after
    with transaction(sessions) as session:
        users.reset_password(session, "li.wei", "a new long password")
    assert sign_in(sessions, "a new long password", "10.1.2.3") == "li.wei"
