"""Authorisation at the door: load the thing, ask evidence.access, log refusals, raise.

Every route that touches an item or a case goes through here, so the policy
(evidence/access.py) is applied, and a refusal recorded, the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Row

from api.access_log import note_user
from api.services import Services
from evidence import access, cases, custody, devices, users
from evidence.access import Action, CaseAction, Decision
from evidence.custody import EventKind, Outcome
from evidence.errors import Forbidden, NotFound
from evidence.items import valid_id
from evidence.models import Case, DeviceAssignment, utcnow
from evidence.unit_of_work import transaction, with_db_retry
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

    def write() -> None:
        with transaction(svc.sessions) as session:
            custody.append(
                session,
                kind,
                agent=agent_of(who, client),
                item_id=item_id,
                case_id=case_id,
                outcome=outcome,
                details={k: v for k, v in details.items() if v is not None},
            )

    with_db_retry(write)


def enforce(
    svc: Services,
    who: Principal,
    client: str,
    decision: Decision,
    action: str,
    missing: str = "",
    item_id: int | None = None,
    case_id: int | None = None,
) -> None:
    """Carry out ``decision``: a refusal is recorded as an access_denied custody event, then raised
    as NotFound(``missing``) when the thing is hidden from ``who``, else Forbidden(reason)."""
    if decision.allowed:
        return
    record(
        svc,
        EventKind.ACCESS_DENIED,
        who,
        client,
        item_id=item_id,
        case_id=case_id,
        outcome=Outcome.FAILURE,
        action=action,
        reason=decision.reason,
    )
    if decision.hide:
        raise NotFound(missing)
    raise Forbidden(decision.reason)


def item(svc: Services, who: Principal, client: str, item_id: int, action: Action) -> Row[Any]:
    """The item's columns, if ``who`` may do ``action`` on it; else a logged 404/403."""
    return _item(svc, lambda _: who, client, item_id, action, None)[1]


def signed_in_item(
    svc: Services,
    token: str | None,
    client: str,
    item_id: int,
    action: Action,
    then: Callable[[Connection, Row[Any]], T] | None = None,
) -> tuple[Principal, Row[Any], T | None]:
    """As ``item`` for the token's user, plus ``then(conn, item)``, all in one read transaction.

    For the hot read routes (metadata, media ranges): one transaction per request, not two.
    """
    return _item(svc, lambda conn: users.signed_in(conn, token), client, item_id, action, then)


def _item(
    svc: Services,
    who_in: Callable[[Connection], Principal],
    client: str,
    item_id: int,
    action: Action,
    then: Callable[[Connection, Row[Any]], T] | None,
) -> tuple[Principal, Row[Any], T | None]:
    if not valid_id(item_id):  # the driver would overflow; no row has such an id
        raise NotFound(f"no item {item_id}")

    # Core reads on a plain connection: no ORM session or entity loading on the hottest path.
    def load() -> tuple[Principal, Row[Any] | None, Decision | None, T | None]:
        with svc.read_engine.begin() as conn:
            who = who_in(conn)
            row, links = access.item_and_links(conn, who, item_id)
            if row is None:
                return who, None, None, None
            decision = access.decide(who, action, row, links)
            return who, row, decision, then(conn, row) if decision.allowed and then else None

    who, row, decision, extra = with_db_retry(load)
    note_user(who.username)
    if row is None or decision is None:
        raise NotFound(f"no item {item_id}")
    enforce(svc, who, client, decision, action.value, f"no item {item_id}", item_id=row.id)
    return who, row, extra


def case(svc: Services, who: Principal, client: str, case_id: int, action: CaseAction) -> Case:
    """The case, if ``who`` may do ``action`` on it; else a logged 404/403."""
    if not valid_id(case_id):
        raise NotFound(f"no case {case_id}")

    def load() -> tuple[Case | None, bool]:
        with transaction(svc.reads) as session:
            row = session.get(Case, case_id)
            return row, bool(row) and cases.is_assigned(session, case_id, who.user_id)

    row, assigned = with_db_retry(load)
    if row is None:
        raise NotFound(f"no case {case_id}")
    enforce(
        svc,
        who,
        client,
        access.decide_case(who, action, row, assigned),
        f"case_{action.value}",
        f"no case {case_id}",
        case_id=row.id,
    )
    return row


def upload(svc: Services, who: Principal, client: str, device: str | None) -> None:
    """Refuse (logged) an upload by someone who may not upload, or naming a recorder not theirs."""

    def holder() -> DeviceAssignment | None:
        with transaction(svc.reads) as session:
            return devices.assignment_at(session, device, utcnow()) if device else None

    enforce(svc, who, client, access.decide_upload(who, device, with_db_retry(holder)), "upload")
