"""Users, roles, sign-in with throttling, and bearer tokens."""

from __future__ import annotations

import enum
import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from evidence.errors import AuthFailed, Conflict, Forbidden, InvalidInput, NotFound, PasswordChangeRequired
from evidence.items import iso
from evidence.models import SignInThrottle, Token, User, utcnow
from evidence.passwords import dummy_hash, hash_password, one_time_password, policy_problem, verify_password

TOKEN_TTL = timedelta(hours=8)
# Failed sign-ins are throttled per account *and client address*: after FREE_FAILURES from one
# address, that address waits 2^k s (at most 15 min) before its next try at the account. Only
# many failures from many addresses (ACCOUNT_FREE_FAILURES, a distributed guess) lock the account
# everywhere, so one stranger cannot lock the owner out.
FREE_FAILURES = 3
ACCOUNT_FREE_FAILURES = 20
MAX_LOCK = timedelta(minutes=15)


class Role(str, enum.Enum):
    OFFICER = "officer"
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is acting: what the access policy and the custody log need to know."""

    user_id: int
    username: str
    unit: str
    roles: frozenset[Role]
    officer_id: str | None

    @property
    def role_text(self) -> str:
        return ",".join(sorted(r.value for r in self.roles))


def parse_roles(text: str | list[str]) -> frozenset[Role]:
    parts = text.split(",") if isinstance(text, str) else text
    try:
        roles = frozenset(Role(p.strip()) for p in parts if p.strip())
    except ValueError as exc:
        raise InvalidInput(f"unknown role in {parts!r}; roles are {', '.join(r.value for r in Role)}") from exc
    if not roles:
        raise InvalidInput("a user needs at least one role")
    return roles


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def add_user(
    session: Session, username: str, roles: list[str], unit: str, officer_id: str | None = None
) -> tuple[User, str]:
    """Create a user; returns it with a one-time password to hand over."""
    username, unit = username.strip(), unit.strip()
    if not username or not unit:
        raise InvalidInput("username and unit must not be empty")
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"user {username!r} already exists")
    role_set = parse_roles(roles)
    if Role.OFFICER in role_set and not officer_id:
        raise InvalidInput("an officer needs --officer-id (警号), which links them to their recordings")
    password = one_time_password()
    user = User(
        username=username,
        unit=unit,
        roles=",".join(sorted(r.value for r in role_set)),
        officer_id=officer_id,
        password_hash=hash_password(password),
        disabled=False,
        failed_logins=0,
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    return user, password


def reset_password(session: Session, username: str, password: str | None = None) -> str:
    """An administrator sets a new one-time password (random when none is given); the user's tokens
    are revoked and the owner must choose their own password at the next sign-in."""
    user = get_user(session, username)
    password = password or one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    _clear_failures(session, user)
    revoke_all(session, user.id)
    return password


def change_password(
    session: Session, username: str, current: str, new: str, keep_token: str | None, source: str = "unknown"
) -> User:
    """The owner chooses a password: the current one is checked (and throttled) as at sign-in, the new
    one against the policy; the one-time flag is cleared and every token but ``keep_token`` revoked.
    The caller commits even when this raises AuthFailed, to keep the failure count."""
    problem = policy_problem(new, username)
    if problem:
        raise InvalidInput(f"new_password: {problem}")
    user = authenticate(session, username, current, source)
    if current == new:
        raise InvalidInput("new_password: must differ from the current password")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    revoke_all(session, user.id, keep=keep_token)
    return user


def disable(session: Session, username: str) -> User:
    user = get_user(session, username)
    user.disabled = True
    revoke_all(session, user.id)
    return user


def authenticate(
    session: Session, username: str, password: str, source: str = "unknown", now: datetime | None = None
) -> User:
    """The user, if the password is right and the account usable; failures from ``source`` (the client
    address) are counted and throttled. The caller commits even when this raises, to keep the count."""
    now = now or utcnow()
    # FOR UPDATE (PostgreSQL; SQLite writers are serialised anyway): one account's sign-ins in turn.
    user = session.scalars(select(User).where(User.username == username).with_for_update()).first()
    if user is None:
        verify_password(password, dummy_hash())
        raise AuthFailed("wrong username or password")
    source = source[:100]
    pair = session.scalars(
        select(SignInThrottle).where(SignInThrottle.user_id == user.id, SignInThrottle.source == source)
    ).first()
    locks = [t for t in (user.locked_until, pair.locked_until if pair else None) if t and t > now]
    if locks:
        wait = int((max(locks) - now).total_seconds()) + 1
        raise AuthFailed(f"too many failed sign-ins; try again in {wait} s", retry_after=wait)
    right = verify_password(password, user.password_hash)
    if not right or user.disabled:
        if pair is None:
            pair = SignInThrottle(user_id=user.id, source=source, failures=0)
            session.add(pair)
        pair.failures += 1
        user.failed_logins += 1
        if pair.failures > FREE_FAILURES:
            pair.locked_until = now + _backoff(pair.failures - FREE_FAILURES)
        if user.failed_logins > ACCOUNT_FREE_FAILURES:
            user.locked_until = now + _backoff(user.failed_logins - ACCOUNT_FREE_FAILURES)
        # only someone who knows the password learns that the account is disabled
        raise AuthFailed("account disabled" if right else "wrong username or password")
    _clear_failures(session, user)
    return user


def _clear_failures(session: Session, user: User) -> None:
    user.failed_logins, user.locked_until = 0, None
    session.execute(delete(SignInThrottle).where(SignInThrottle.user_id == user.id))


def _backoff(excess: int) -> timedelta:
    return min(MAX_LOCK, timedelta(seconds=2 ** min(excess, 20)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl: timedelta = TOKEN_TTL) -> tuple[str, datetime]:
    """A new bearer token for ``user``: a sign-in, so it is their last sign-in time too."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + ttl
    user.last_sign_in_at = now
    session.add(Token(token_sha256=_digest(token), user_id=user.id, issued_at=now, expires_at=expires))
    session.flush()
    return token, expires


# Built once, in Core over the tables (no ORM entities): every API request runs it, and
# building or ORM-loading costs more than the query itself.
_T, _U = Token.__table__.c, User.__table__.c
_TOKEN_USER = (
    select(
        _T.revoked_at,
        _T.expires_at,
        _U.disabled,
        _U.must_change_password,
        _U.id,
        _U.username,
        _U.unit,
        _U.roles,
        _U.officer_id,
    )
    .select_from(Token.__table__.join(User.__table__, _U.id == _T.user_id))
    .where(_T.token_sha256 == bindparam("digest"))
)


def signed_in(conn: Connection, token: str | None, pending_ok: bool = False) -> Principal:
    """The principal behind a bearer token; AuthFailed for a missing, unknown, expired or revoked one,
    PasswordChangeRequired while the user still has a one-time password (unless ``pending_ok``)."""
    if not token:
        raise AuthFailed("sign in first: no bearer token")
    found = conn.execute(_TOKEN_USER, {"digest": _digest(token)}).first()
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        raise AuthFailed("token unknown, expired or revoked")
    if found.disabled:
        raise AuthFailed("account disabled")
    if found.must_change_password and not pending_ok:
        raise PasswordChangeRequired(
            "this account still has a one-time password: choose your own with POST /api/v1/me/password"
        )
    return Principal(found.id, found.username, found.unit, _roles(found.roles), found.officer_id)


@functools.lru_cache(maxsize=64)
def _roles(text: str) -> frozenset[Role]:
    return parse_roles(text)


def revoke(session: Session, token: str) -> None:
    row = session.scalars(select(Token).where(Token.token_sha256 == _digest(token))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def revoke_all(session: Session, user_id: int, keep: str | None = None) -> None:
    """Revoke every live token of the user, except the one ``keep`` names."""
    spared = _digest(keep) if keep else None
    for row in session.scalars(select(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None))):
        if row.token_sha256 != spared:
            row.revoked_at = utcnow()


@dataclass(frozen=True)
class Issued:
    token: str
    expires: datetime
    password_change_required: bool


def sign_in(session: Session, username: str, password: str, source: str) -> Issued | AuthFailed:
    """A new token for the user, or the AuthFailed to raise once this transaction (which keeps the
    failure count) has committed."""
    try:
        user = authenticate(session, username, password, source)
    except AuthFailed as exc:
        return exc
    token, expires = issue_token(session, user)
    return Issued(token, expires, user.must_change_password)


def choose_password(
    session: Session, username: str, current: str, new: str, keep_token: str | None, source: str
) -> AuthFailed | Forbidden | None:
    """``change_password``, returning (not raising) the error for a failed check of the current
    password, so that the transaction keeping the failure count commits."""
    try:
        change_password(session, username, current, new, keep_token, source)
    except AuthFailed as exc:
        # while not throttled, not 401: the caller's token is good, they only mistyped the password
        return exc if exc.retry_after else Forbidden("current_password: wrong password")
    return None


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def user_view(user: User) -> dict:
    """The fields of ``evidence users list --json`` and ``GET /api/v1/users``."""
    return {
        "username": user.username,
        "unit": user.unit,
        "roles": sorted(user.roles.split(",")),
        "officer_id": user.officer_id,
        "disabled": user.disabled,
        "password_change_required": user.must_change_password,
        "last_sign_in_at": iso(user.last_sign_in_at),
    }
