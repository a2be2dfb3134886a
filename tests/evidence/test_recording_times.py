from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from evidence.deadlines import check_deadline
from evidence.recording_times import parse_container_time, recording_times, time_from_filename
from storage_config.settings import DEFAULT_FILENAME_PATTERNS

SH = ZoneInfo("Asia/Shanghai")
ARRIVED = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def test_filename_patterns_read_in_station_zone():
    assert time_from_filename("ZFY0001_20261101_163000.mp4", DEFAULT_FILENAME_PATTERNS, SH) == datetime(
        2026, 11, 1, 8, 30, tzinfo=UTC
    )
    assert time_from_filename("REC20261101163000A.MP4", DEFAULT_FILENAME_PATTERNS, SH) == datetime(
        2026, 11, 1, 8, 30, tzinfo=UTC
    )
    assert time_from_filename("clip.mp4", DEFAULT_FILENAME_PATTERNS, SH) is None
    assert time_from_filename("20261399_250000.mp4", DEFAULT_FILENAME_PATTERNS, SH) is None  # no such date


def test_container_time_utc_or_local():
    assert parse_container_time("2026-11-01T08:00:00.000000Z", SH, False) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    # recorders that write local wall-clock time into the container
    assert parse_container_time("2026-11-01T16:00:00.000000Z", SH, True) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_container_time("garbage", SH, False) is None


def test_preference_container_then_name_then_mtime():
    c = datetime(2026, 11, 1, 8, tzinfo=UTC)
    f = datetime(2026, 11, 1, 9, tzinfo=UTC)
    m = datetime(2026, 11, 1, 10, tzinfo=UTC)
    t = recording_times(container_time=c, filename_time=f, mtime=m, duration_s=60, received_at=ARRIVED)
    assert (t.start, t.end.minute, t.source.value) == (c, 1, "container")
    t = recording_times(container_time=None, filename_time=f, mtime=m, duration_s=60, received_at=ARRIVED)
    assert t.source.value == "filename"
    t = recording_times(container_time=None, filename_time=None, mtime=m, duration_s=60, received_at=ARRIVED)
    assert (t.end, t.start.minute, t.source.value) == (m, 59, "file_mtime")


def test_implausible_clock_falls_back():
    reset = datetime(1970, 1, 1, tzinfo=UTC)
    future = datetime(2030, 1, 1, tzinfo=UTC)
    f = datetime(2026, 11, 1, 9, tzinfo=UTC)
    for bad in (reset, future):
        t = recording_times(container_time=bad, filename_time=f, mtime=f, duration_s=1, received_at=ARRIVED)
        assert t.source.value == "filename"


def test_deadline():
    end = datetime(2026, 11, 1, 8, tzinfo=UTC)
    on = check_deadline(end, datetime(2026, 11, 2, 8, tzinfo=UTC), 24)
    assert on.on_time and on.late_by_s is None and on.deadline == datetime(2026, 11, 2, 8, tzinfo=UTC)
    late = check_deadline(end, datetime(2026, 11, 2, 9, 30, tzinfo=UTC), 24)
    assert not late.on_time and late.late_by_s == 5400


def test_unattributed_footage_is_never_on_time():
    end = datetime(2026, 11, 1, 8, tzinfo=UTC)
    unknown = check_deadline(end, end, 24, attributed=False)  # arrived at once, but whose is it?
    assert unknown.on_time is None and unknown.late_by_s is None
    assert unknown.deadline == datetime(2026, 11, 2, 8, tzinfo=UTC)
