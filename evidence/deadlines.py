"""The upload-deadline rule: footage must reach storage within N hours after recording ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class DeadlineCheck:
    deadline: datetime
    on_time: bool | None
    late_by_s: float | None


def check_deadline(
    recorded_end: datetime, received_at: datetime, hours: float, attributed: bool = True
) -> DeadlineCheck:
    """Deadline = recorded_end + hours; late_by_s is None when on time.

    Footage nobody is known to have recorded never counts as on time: until it is attributed,
    on_time (and late_by_s) are None, "not judged", and it is found by the unattributed filter.
    """
    deadline = recorded_end + timedelta(hours=hours)
    if not attributed:
        return DeadlineCheck(deadline, None, None)
    late = (received_at - deadline).total_seconds()
    return DeadlineCheck(deadline, late <= 0, round(late, 3) if late > 0 else None)
