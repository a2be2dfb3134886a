"""Range and If-Range evaluation (RFC 9110 §14, §13.1.5) as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from api.ranges import http_date, if_range_holds

WHEN = datetime(2026, 11, 1, 8, 0, 0, 250000, tzinfo=UTC)
TAG = '"abc-proxy"'


def test_http_dates_are_imf_fixdates_in_gmt_to_the_second():
    assert http_date(WHEN) == "Sun, 01 Nov 2026 08:00:00 GMT"
    assert http_date(WHEN.astimezone(timezone(timedelta(hours=8)))) == "Sun, 01 Nov 2026 08:00:00 GMT"


def test_if_range():
    assert if_range_holds(None, TAG, WHEN), "no If-Range: the Range stands"
    assert if_range_holds(TAG, TAG, WHEN) and if_range_holds(f" {TAG} ", TAG, WHEN)
    for stale in (
        '"abc-poster"',
        f"W/{TAG}",
        "abc-proxy",
        "",
        "garbage",
        "Sun, 01 Nov 2026 08:00:01 GMT",
        "Sun, 01 Nov 2026 07:59:59 GMT",
        "Sun, 32 Nov 2026 08:00:00 GMT",
    ):
        assert not if_range_holds(stale, TAG, WHEN), stale
    for same in ("Sun, 01 Nov 2026 08:00:00 GMT", "Sunday, 01-Nov-26 08:00:00 GMT", "Sun Nov  1 08:00:00 2026"):
        assert if_range_holds(same, TAG, WHEN), same
    assert not if_range_holds(f"W/{TAG}", f"W/{TAG}", WHEN), "weak tags never match, even each other"
