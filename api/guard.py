"""Authorisation at the door: run the domain work, record its refusals, raise.

Domain functions load what they act on and ask evidence/access.py, which raises ``access.Refused``
inside the unit of work. Every route runs its work through ``run`` here, so a refusal is recorded
as an access_denied custody event, in a transaction of its own, the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session, sessionmaker

from api.access_log import note_user
from api.services import Services
from evidence import access, custody, unit_of_work, users
from evidence.access import Action, Decision, Refused
from evidence.custody import EventKind, Outcome
from evidence.errors import EvidenceError, Forbidden, NotFound
from evidence.users import Principal

T = TypeVar("T")


def agent_of(who: Principal, client: str) -> str:
    """The custody agent for an act through the API: user, roles, unit and client address."""
    return f"user={who.username}; roles={who.role_text}; unit={who.unit}; client={client}; via=api"


def record(
    svc: Services,
    kind: EventKind,
    who: Principal,
    client: str,
    *,
    item_id: int | None = None,
    case_id: int | None = None,
    outcome: Outcome = Outcome.SUCCESS,
    **details,
) -> None:
    """A custody event in its own transaction (so a refusal is kept although the request fails)."""
    unit_of_work.run(
        svc.sessions,
        lambda session: custody.append(
            session,
            kind,
            agent=agent_of(who, client),
            item_id=item_id,
            case_id=case_id,
            outcome=outcome,
            details={k: v for k, v in details.items() if v is not None},
        ),
    )


def refusal(svc: Services, who: Principal, client: str, refused: Refused) -> EvidenceError:
    """Record ``refused`` as an access_denied custody event; the error to raise: NotFound when the
    thing is hidden from ``who``, else Forbidden."""
    record(
        svc,
        EventKind.ACCESS_DENIED,
        who,
        client,
        item_id=refused.item_id,
        case_id=refused.case_id,
        outcome=Outcome.FAILURE,
        action=refused.action,
        **refused.details,
        reason=refused.decision.reason,
    )
    if refused.decision.hide:
        return NotFound(refused.missing)
    return Forbidden(refused.decision.reason)


def run(
    svc: Services,
    who: Principal,
    client: str,
    work: Callable[[Session], T],
    sessions: sessionmaker[Session] | None = None,
) -> T:
    """``work(session)`` in one unit of work (``sessions``: ``svc.sessions`` unless given); a refusal
    it raises is recorded and answered 404/403."""
    try:
        return unit_of_work.run(sessions or svc.sessions, work)
    except Refused as refused:
        raise refusal(svc, who, client, refused) from None


def enforce(svc: Services, who: Principal, client: str, decision: Decision, action: str, missing: str = "") -> None:
    """Carry out a ``decision`` that needs no database: a refusal is recorded, then raised."""
    try:
        access.require(decision, action, missing)
    except Refused as refused:
        raise refusal(svc, who, client, refused) from None


@overload
def signed_in_item(
    svc: Services, token: str | None, client: str, item_id: int, action: Action
) -> tuple[Principal, Row[Any], None]: ...
@overload
def signed_in_item(
    svc: Services,
    token: str | None,
    client: str,
    item_id: int,
    action: Action,
    then: Callable[[Connection, Row[Any]], T],
) -> tuple[Principal, Row[Any], T]: ...
def signed_in_item(
    svc: Services,
    token: str | None,
    client: str,
    item_id: int,
    action: Action,
    then: Callable[[Connection, Row[Any]], T] | None = None,
) -> tuple[Principal, Row[Any], T | None]:
    """The token's user and the item, if they may do ``action`` on it, plus ``then(conn, item)``, all
    in one read transaction; else a recorded 404/403.

    For the hot read routes (metadata, media ranges): Core reads on a plain connection, no ORM
    session, one transaction per request.
    """

    def load(conn: Connection) -> tuple[Principal, Row[Any] | Refused | NotFound, T | None]:
        who = users.signed_in(conn, token)
        try:
            row = access.item_for(conn, who, item_id, action)
        except (Refused, NotFound) as exc:  # the user is known: the access log names them either way
            return who, exc, None
        return who, row, then(conn, row) if then else None

    who, row, extra = unit_of_work.run_connection(svc.read_engine, load)
    note_user(who.username)
    if isinstance(row, Refused):
        raise refusal(svc, who, client, row)
    if isinstance(row, NotFound):
        raise row
    return who, row, extra
