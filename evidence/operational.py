"""What an operator watches, read from the database in one go (the API's /metrics reads it per scrape).

Counts only, never ids: jobs by kind and state, items in fixity alarm, late uploads not excused, the
custody log's size and when its newest checkpoint was signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, func, not_, or_, select
from sqlalchemy.orm import Session

from evidence import custody_checkpoints, excuses, fixity
from evidence.models import CustodyCheckpoint, Excuse, Item, Job, TimeSource


@dataclass(frozen=True)
class Snapshot:
    jobs: dict[tuple[str, str], int]  # (kind, state) -> count
    fixity_alarms: int
    late_unexcused: int  # recordings judged late (not doubtful, not clips) that no excuse covers
    custody_log_size: int
    last_checkpoint_at: datetime | None


def late_unexcused(session: Session) -> int:
    """Recordings late by the deadline rule and not excused: the deadline report's ``late``, for all time."""
    excused = select(Excuse.id).where(excuses.applies_clause()).exists()
    not_a_clip = func.coalesce(Item.derived_from, 0) == 0
    doubtful = or_(  # as in evidence/deadline_report.py: such recordings are neither on time nor late
        Item.officer_id.is_(None),
        func.coalesce(Item.time_source, "") == TimeSource.FILE_MTIME.value,
        Item.recorded_end > Item.received_at,
        Item.on_time.is_(None),
    )
    query = (
        select(func.count())
        .select_from(Item)
        .where(Item.on_time == false(), not_(doubtful), Item.recorded_end.is_not(None), not_a_clip, not_(excused))
    )
    return int(session.scalar(query) or 0)


def snapshot(session: Session) -> Snapshot:
    """Everything in one (read-only) transaction."""
    jobs = {
        (kind, state): int(n)
        for kind, state, n in session.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))
    }
    return Snapshot(
        jobs=jobs,
        fixity_alarms=fixity.alarm_count(session),
        late_unexcused=late_unexcused(session),
        custody_log_size=int(custody_checkpoints.log_size(session)),
        last_checkpoint_at=session.scalar(select(func.max(CustodyCheckpoint.made_at))),
    )
