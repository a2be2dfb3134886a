"""Authorisation at the door: load the thing, ask evidence.access, log refusals, raise.

Every route that touches an item or a case goes through here, so the policy
(evidence/access.py) is applied, and a refusal recorded, the same way everywhere.
"""

from __future__ import annotations

from evidence import access, cases, custody
from evidence.access import Action, CaseAction, Decision
from evidence.custody import EventKind, Outcome
from evidence.db import transaction, with_db_retry
from evidence.errors import Forbidden, NotFound
from evidence.models import Case, Item
from evidence.users import Principal

from api.services import Services


def agent_of(who: Principal, client: str) -> str:
    """The custody agent for an act through the API: user, roles, unit and client address."""
    return f"user={who.username}; roles={who.role_text}; unit={who.unit}; client={client}; via=api"


def record(svc: Services, kind: EventKind, who: Principal, client: str, *, item_id: int | None = None,
           case_id: int | None = None, outcome: Outcome = Outcome.SUCCESS, **details) -> None:
    """A custody event in its own transaction (so a refusal is kept although the request fails)."""

    def write() -> None:
        with transaction(svc.sessions) as session:
            custody.append(session, kind, agent=agent_of(who, client), item_id=item_id, case_id=case_id,
                           outcome=outcome, details={k: v for k, v in details.items() if v is not None})

    with_db_retry(write)


def _enforce(svc: Services, who: Principal, client: str, decision: Decision, action: str, missing: str,
             item_id: int | None = None, case_id: int | None = None) -> None:
    if decision.allowed:
        return
    record(svc, EventKind.ACCESS_DENIED, who, client, item_id=item_id, case_id=case_id, outcome=Outcome.FAILURE,
           action=action, reason=decision.reason)
    if decision.hide:
        raise NotFound(missing)
    raise Forbidden(decision.reason)


def item(svc: Services, who: Principal, client: str, item_id: int, action: Action) -> Item:
    """The item, if ``who`` may do ``action`` on it; else a logged 404/403."""

    def load() -> tuple[Item | None, access.Links]:
        with transaction(svc.reads) as session:
            row = session.get(Item, item_id)
            return row, access.links_for(session, who, item_id) if row else access.Links()

    row, links = with_db_retry(load)
    if row is None:
        raise NotFound(f"no item {item_id}")
    _enforce(svc, who, client, access.decide(who, action, row, links), action.value, f"no item {item_id}",
             item_id=row.id)
    return row


def case(svc: Services, who: Principal, client: str, case_id: int, action: CaseAction) -> Case:
    """The case, if ``who`` may do ``action`` on it; else a logged 404/403."""

    def load() -> tuple[Case | None, bool]:
        with transaction(svc.reads) as session:
            row = session.get(Case, case_id)
            return row, bool(row) and cases.is_assigned(session, case_id, who.user_id)

    row, assigned = with_db_retry(load)
    if row is None:
        raise NotFound(f"no case {case_id}")
    _enforce(svc, who, client, access.decide_case(who, action, row, assigned), f"case_{action.value}",
             f"no case {case_id}", case_id=row.id)
    return row
