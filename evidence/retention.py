"""How long each item is kept: its retention class, keep-until date and the reason.

Every rule that applies to an item gives a date (or "permanent"); the longest wins:

    ordinary    recorded_end + EVIDENCE_RETAIN_DAYS (180)
    important   marked important: recorded_end + EVIDENCE_RETAIN_IMPORTANT_DAYS (1095)
    case        linked to an open case: permanent; to a closed one: its closing
                + EVIDENCE_RETAIN_AFTER_CASE_DAYS (unset: permanent)
    hold        under legal hold (on the item, or on a case it is linked to): until released

Counted from ``recorded_end``, or from ``received_at`` when the recording time is unknown (the
reason says so). ``refresh`` stores the verdict on the items (``retention_class``, ``keep_until``
— null for permanent — and ``retention_because``); it is called wherever one of these facts
changes, and brings an expired item back (custody event ``restored``) when it is kept again.
The sweeper (evidence/sweeper.py) recomputes the verdict itself before it touches anything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import custody, item_status
from evidence.custody import EventKind
from evidence.items import iso
from evidence.models import Case, CaseItem, Hold, Item, ItemStatus, Mark, utcnow


class RetentionClass(str, enum.Enum):
    ORDINARY = "ordinary"
    IMPORTANT = "important"
    CASE = "case"
    HOLD = "hold"


# Which class names the verdict when two rules give the same date (permanent, usually)
_RANK = {RetentionClass.ORDINARY: 0, RetentionClass.IMPORTANT: 1, RetentionClass.CASE: 2, RetentionClass.HOLD: 3}


@dataclass(frozen=True)
class Rules:
    """The retention periods (from settings: EVIDENCE_RETAIN_DAYS, …_IMPORTANT_DAYS, …_AFTER_CASE_DAYS)."""

    retain_days: int = 180
    important_days: int = 1095
    after_case_days: int | None = None  # None: a closed case's footage is kept permanently


@dataclass(frozen=True)
class Verdict:
    klass: RetentionClass
    keep_until: datetime | None  # None: permanent
    because: str

    def due(self, as_of: datetime) -> bool:
        """May the item expire at ``as_of``?"""
        return self.keep_until is not None and self.keep_until <= as_of

    def as_dict(self) -> dict[str, str | None]:
        return {"class": self.klass.value, "keep_until": iso(self.keep_until), "because": self.because}


@dataclass(frozen=True)
class CaseFact:
    number: str
    status: str
    closed_at: datetime | None


@dataclass(frozen=True)
class Facts:
    """What the rules look at, for one item."""

    counted_from: datetime
    from_received: bool  # the recording time is unknown: counted from arrival
    important: bool = False
    cases: tuple[CaseFact, ...] = ()
    holds: tuple[str, ...] = ()  # what each active hold is on: "item" or "case <number>"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def judge(facts: Facts, rules: Rules) -> Verdict:
    """The verdict of the longest applicable rule."""
    start = "arrival (recording time unknown)" if facts.from_received else "recording"
    candidates = [
        Verdict(
            RetentionClass.ORDINARY,
            facts.counted_from + timedelta(days=rules.retain_days),
            f"ordinary footage: {rules.retain_days} days from {start} {_day(facts.counted_from)}",
        )
    ]
    if facts.important:
        candidates.append(
            Verdict(
                RetentionClass.IMPORTANT,
                facts.counted_from + timedelta(days=rules.important_days),
                f"marked important: {rules.important_days} days from {start} {_day(facts.counted_from)}",
            )
        )
    for case in facts.cases:
        if case.status != "closed":
            candidates.append(Verdict(RetentionClass.CASE, None, f"linked to case {case.number}"))
        elif rules.after_case_days is None or case.closed_at is None:
            candidates.append(
                Verdict(RetentionClass.CASE, None, f"linked to case {case.number} (closed; kept permanently)")
            )
        else:
            candidates.append(
                Verdict(
                    RetentionClass.CASE,
                    case.closed_at + timedelta(days=rules.after_case_days),
                    f"linked to case {case.number}, closed {_day(case.closed_at)}: "
                    f"{rules.after_case_days} days after closing",
                )
            )
    for on in facts.holds:
        candidates.append(Verdict(RetentionClass.HOLD, None, f"under legal hold ({on})"))
    return max(
        candidates,
        key=lambda v: (v.keep_until is None, v.keep_until or facts.counted_from, _RANK[v.klass]),
    )


def facts_of(session: Session, items: list[Item]) -> dict[int, Facts]:
    """The facts of each item, in four queries for the whole list."""
    ids = [i.id for i in items]
    important = set(
        session.scalars(
            select(Mark.item_id).where(Mark.item_id.in_(ids), Mark.kind == "important", Mark.removed_at.is_(None))
        )
    )
    cases: dict[int, list[CaseFact]] = {i: [] for i in ids}
    case_ids: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    for item_id, case_id, number, status, closed_at in session.execute(
        select(CaseItem.item_id, Case.id, Case.number, Case.status, Case.closed_at)
        .join(Case, Case.id == CaseItem.case_id)
        .where(CaseItem.item_id.in_(ids), CaseItem.unlinked_at.is_(None))
        .order_by(Case.number)
    ):
        cases[item_id].append(CaseFact(number, status, closed_at))
        case_ids[item_id].append((case_id, number))
    held_items = set(session.scalars(select(Hold.item_id).where(Hold.item_id.in_(ids), Hold.released_at.is_(None))))
    all_cases = {c for pairs in case_ids.values() for c, _ in pairs}
    held_cases = set(
        session.scalars(select(Hold.case_id).where(Hold.case_id.in_(all_cases), Hold.released_at.is_(None)))
    )
    found = {}
    for item in items:
        holds = (["item"] if item.id in held_items else []) + [
            f"case {number}" for case_id, number in case_ids[item.id] if case_id in held_cases
        ]
        from_received = item.recorded_end is None
        found[item.id] = Facts(
            counted_from=item.received_at if item.recorded_end is None else item.recorded_end,
            from_received=from_received,
            important=item.id in important,
            cases=tuple(cases[item.id]),
            holds=tuple(holds),
        )
    return found


def verdicts(session: Session, items: list[Item], rules: Rules) -> dict[int, Verdict]:
    return {item_id: judge(f, rules) for item_id, f in facts_of(session, items).items()}


def restore(session: Session, item: Item, verdict: Verdict, agent: str) -> None:
    """An expired item kept again (linked, marked, held, or the rules changed): back to normal."""
    item_status.move(item, ItemStatus.MEDIA_ERROR if item.error else ItemStatus.READY, item.error)
    item.expired_at = None
    custody.append(
        session, EventKind.RESTORED, agent=agent, item_id=item.id, details={**verdict.as_dict(), "status": item.status}
    )


def refresh(
    session: Session,
    item_ids: Iterable[int],
    rules: Rules,
    agent: str = "evidence retention",
    now: datetime | None = None,
) -> dict[int, Verdict]:
    """Work out and store the retention of these items (row-locked: the sweeper waits, or is waited
    for); an expired one whose verdict keeps it past ``now`` is restored. Purged items keep their last verdict."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    session.flush()
    locked = select(Item).where(Item.id.in_(ids)).order_by(Item.id).with_for_update(key_share=True)
    items = list(session.scalars(locked))
    found = verdicts(session, items, rules)
    moment = now or utcnow()
    for item in items:
        if item.status == ItemStatus.PURGED.value:
            continue
        verdict = found[item.id]
        item.retention_class, item.keep_until = verdict.klass.value, verdict.keep_until
        item.retention_because = verdict.because
        if item.status == ItemStatus.EXPIRED.value and not verdict.due(moment):
            restore(session, item, verdict, agent)
    return found


def items_of_case(session: Session, case_id: int) -> list[int]:
    """The items linked to a case now (their retention follows the case)."""
    return list(
        session.scalars(select(CaseItem.item_id).where(CaseItem.case_id == case_id, CaseItem.unlinked_at.is_(None)))
    )
