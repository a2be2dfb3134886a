"""Who may do what with an item: the whole access policy, in one place.

    officer     own recordings (attributed to their 警号): metadata, proxy, poster
    reviewer    recordings of their own unit: metadata, custody log, proxy, poster, originals (with a reason)
    supervisor  as reviewer
    auditor     metadata and custody logs of every unit; no media
    admin       users and devices; no access to recordings

Someone with no right to know an item exists gets ``hide=True`` (the API answers
404); someone who may see it but not do this act gets a plain refusal (403).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true

from evidence.models import Item
from evidence.users import Principal, Role

UNIT_ROLES = {Role.REVIEWER, Role.SUPERVISOR}


class Action(str, enum.Enum):
    VIEW_METADATA = "view_metadata"
    VIEW_CUSTODY = "view_custody"
    VIEW_MEDIA = "view_media"  # proxy stream and poster
    DOWNLOAD_ORIGINAL = "download_original"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    hide: bool = False


def _relations(who: Principal, item: Item) -> tuple[bool, bool, bool]:
    own = Role.OFFICER in who.roles and who.officer_id is not None and item.officer_id == who.officer_id
    same_unit = bool(UNIT_ROLES & who.roles) and item.unit is not None and item.unit == who.unit
    return own, same_unit, Role.AUDITOR in who.roles


def decide(who: Principal, action: Action, item: Item) -> Decision:
    """May ``who`` perform ``action`` on ``item``?"""
    own, same_unit, auditor = _relations(who, item)
    if not (own or same_unit or auditor):
        return Decision(False, "not your recording, nor your unit's", hide=True)
    allowed = {
        Action.VIEW_METADATA: True,
        Action.VIEW_CUSTODY: same_unit or auditor,
        Action.VIEW_MEDIA: own or same_unit,
        Action.DOWNLOAD_ORIGINAL: same_unit,
    }[action]
    if allowed:
        return Decision(True, "allowed")
    why = {
        Action.VIEW_CUSTODY: "custody logs are for reviewers of the unit and auditors",
        Action.VIEW_MEDIA: "media is for the recording officer and reviewers of the unit",
        Action.DOWNLOAD_ORIGINAL: "originals are for reviewers and supervisors of the unit",
    }[action]
    return Decision(False, why)


def visible(who: Principal) -> ColumnElement[bool]:
    """SQL condition for the items whose metadata ``who`` may see (the same rule as ``decide``)."""
    if Role.AUDITOR in who.roles:
        return true()
    clauses = []
    if Role.OFFICER in who.roles and who.officer_id:
        clauses.append(Item.officer_id == who.officer_id)
    if UNIT_ROLES & who.roles:
        clauses.append(Item.unit == who.unit)
    return or_(*clauses) if clauses else false()
