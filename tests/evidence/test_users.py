"""Sign-in throttling per account and client address; one-time passwords; the password policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from evidence import users
from evidence.adapters.database import MIGRATIONS
from evidence.errors import AuthFailed, InvalidInput, PasswordChangeRequired
from evidence.models import SignInThrottle, utcnow
from evidence.passwords import policy_problem
from evidence.unit_of_work import transaction


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


def _token_check(sessions, token, pending_ok=False):
    with sessions.kw["bind"].connect() as conn:
        return users.signed_in(conn, token, pending_ok)


def test_a_one_time_password_gives_a_token_that_only_changing_the_password_opens(owner):
    sessions, password = owner
    with transaction(sessions) as session:
        token, _ = users.issue_token(session, users.authenticate(session, "li.wei", password))
    with pytest.raises(PasswordChangeRequired):
        _token_check(sessions, token)
    assert _token_check(sessions, token, pending_ok=True).username == "li.wei"
    with transaction(sessions) as session:
        other, _ = users.issue_token(session, users.get_user(session, "li.wei"))
        users.change_password(session, "li.wei", password, "Harbour lights 42", keep_token=token)
    assert _token_check(sessions, token).username == "li.wei"
    with pytest.raises(AuthFailed):
        _token_check(sessions, other)
    with transaction(sessions) as session:
        user = users.get_user(session, "li.wei")
        assert not user.must_change_password and user.last_sign_in_at is not None
        users.reset_password(session, "li.wei")
    with transaction(sessions) as session:
        assert users.user_view(users.get_user(session, "li.wei"))["password_change_required"] is True
    with pytest.raises(AuthFailed):
        _token_check(sessions, token)  # an administrator's reset signs the owner out everywhere


def test_a_changed_password_is_checked_before_anything_changes(owner):
    sessions, password = owner
    with transaction(sessions) as session, pytest.raises(InvalidInput, match="at least 12"):
        users.change_password(session, "li.wei", password, "short", keep_token=None)
    with transaction(sessions) as session, pytest.raises(AuthFailed):
        users.change_password(session, "li.wei", "wrong", "Harbour lights 42", keep_token=None)
    with transaction(sessions) as session:
        assert users.get_user(session, "li.wei").must_change_password
        assert users.authenticate(session, "li.wei", password).username == "li.wei"


@pytest.mark.parametrize(
    "password, problem",
    [
        ("Harbour lights 42", None),
        ("correcthorsebattery", "mix at least two"),
        ("correct horse battery", None),  # a space counts as another kind of character
        ("长城长城长城长城长城长城", "mix at least two"),
        ("长城长城长城长城长城长城7", None),
        ("Sh0rt pass", "at least 12"),
        ("Li.Wei-2026-spring", "must not contain the username"),
        ("PASSWORD1234", "too common"),
    ],
)
def test_the_password_policy(password, problem):
    found = policy_problem(password, "li.wei")
    assert (found is None) if problem is None else (problem in found), found


def test_migration_0007_asks_existing_users_for_a_password_and_unjudges_unattributed_footage(any_sessions):
    engine = any_sessions.kw["bind"]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
        conn.execute(
            text(
                "INSERT INTO users (username, unit, roles, password_hash, disabled, failed_logins, "
                "created_at) VALUES ('old', 'U1', 'reviewer', 'x', false, 0, '2026-01-01')"
            )
        )
        for n, serial in ((1, "'ZFY0001'"), (2, "NULL")):  # docked, and dropped at an upload point's root
            conn.execute(
                text(
                    "INSERT INTO items (sha256, size_bytes, object_key, original_filename, source_path, source_mtime, "
                    "device_serial, station_id, received_at, stored_at, status, on_time) VALUES "
                    f"('{n:064}', 1, 'k{n}', 'a.mp4', 'a.mp4', '2026-01-01', {serial}, 'ST01', '2026-01-01', "
                    "'2026-01-01', 'ready', true)"
                )
            )
        command.upgrade(cfg, "head")
    with transaction(any_sessions) as session:
        old = users.get_user(session, "old")
        assert old.must_change_password is True and old.last_sign_in_at is None
        verdicts = session.execute(text("SELECT device_serial, on_time FROM items ORDER BY id")).all()
        assert [tuple(v) for v in verdicts] == [("ZFY0001", True), (None, None)]
