"""When a recording started and ended, and where that time came from.

Preference: the container's ``creation_time``, then a timestamp in the file
name (read in the station's zone), then the file's modification time, which
recorders set when they close a clip, so it marks the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard
from zoneinfo import ZoneInfo

from evidence.models import TimeSource

# Clocks reset after battery loss report 1970 or 2000; nothing real predates this.
EARLIEST_PLAUSIBLE = datetime(2005, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RecordingTimes:
    start: datetime
    end: datetime
    source: TimeSource


def parse_container_time(value: str | None, zone: ZoneInfo, container_is_local: bool) -> datetime | None:
    """ffprobe's ``creation_time`` tag as UTC; local when the recorder writes local time."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if container_is_local:
        moment = moment.replace(tzinfo=zone)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def time_from_filename(name: str, patterns: list[str], zone: ZoneInfo) -> datetime | None:
    """The first valid timestamp any pattern finds in ``name``, as UTC."""
    for pattern in patterns:
        for match in re.finditer(pattern, name):
            g = match.groupdict()
            try:
                local = datetime(
                    int(g["Y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), tzinfo=zone
                )
            except ValueError:
                continue
            return local.astimezone(UTC)
    return None


def _plausible(moment: datetime | None, latest: datetime) -> TypeGuard[datetime]:
    return moment is not None and EARLIEST_PLAUSIBLE <= moment <= latest


def recording_times(
    *,
    container_time: datetime | None,
    filename_time: datetime | None,
    mtime: datetime,
    duration_s: float | None,
    received_at: datetime,
) -> RecordingTimes:
    """Choose start/end by source preference; a time after arrival is not believed."""
    length = timedelta(seconds=duration_s or 0)
    latest = received_at + timedelta(minutes=5)
    if _plausible(container_time, latest):
        return RecordingTimes(container_time, container_time + length, TimeSource.CONTAINER)
    if _plausible(filename_time, latest):
        return RecordingTimes(filename_time, filename_time + length, TimeSource.FILENAME)
    return RecordingTimes(mtime - length, mtime, TimeSource.FILE_MTIME)
