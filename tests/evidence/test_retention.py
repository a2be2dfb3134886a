"""Retention rules: the longest applicable rule wins, and refresh keeps the items' verdicts current."""

from __future__ import annotations

from datetime import timedelta

from evidence import cases, retention
from evidence.items import item_view
from evidence.models import Item
from evidence.retention import CaseFact, Facts, RetentionClass, Rules
from evidence.unit_of_work import transaction
from tests.evidence.retention_world import AGENT, T0, add_case, add_item, day

RULES = Rules(retain_days=180, important_days=1095, after_case_days=None)


def test_ordinary_footage_is_kept_retain_days_from_the_recording():
    v = retention.judge(Facts(T0, False), RULES)
    assert (v.klass, v.keep_until) == (RetentionClass.ORDINARY, day(180))
    assert "180 days from recording 2026-01-10" in v.because
    assert not v.due(day(180) - timedelta(seconds=1)) and v.due(day(180))


def test_unknown_recording_time_counts_from_arrival_and_says_so():
    v = retention.judge(Facts(T0, True), RULES)
    assert v.keep_until == day(180) and "arrival (recording time unknown)" in v.because


def test_important_extends_and_the_longest_rule_wins():
    v = retention.judge(Facts(T0, False, important=True), RULES)
    assert (v.klass, v.keep_until) == (RetentionClass.IMPORTANT, day(1095))
    short = retention.judge(Facts(T0, False, important=True), Rules(retain_days=2000, important_days=10))
    assert (short.klass, short.keep_until) == (RetentionClass.ORDINARY, day(2000))


def test_open_case_keeps_permanently_closed_case_counts_from_closing():
    v = retention.judge(Facts(T0, False, cases=(CaseFact("2026-031", "open", None),)), RULES)
    assert (v.klass, v.keep_until, v.because) == (RetentionClass.CASE, None, "linked to case 2026-031")
    closed = Facts(T0, False, cases=(CaseFact("2026-031", "closed", day(30)),))
    assert retention.judge(closed, RULES).keep_until is None  # after-case default: permanent
    v = retention.judge(closed, Rules(after_case_days=10))
    assert (v.klass, v.keep_until) == (RetentionClass.ORDINARY, day(180))  # 10 days after closing is shorter
    v = retention.judge(closed, Rules(after_case_days=365))
    assert (v.klass, v.keep_until) == (RetentionClass.CASE, day(395))


def test_hold_wins_over_everything():
    v = retention.judge(Facts(T0, False, cases=(CaseFact("A", "open", None),), holds=("case A",)), RULES)
    assert (v.klass, v.keep_until, v.because) == (RetentionClass.HOLD, None, "under legal hold (case A)")


def test_refresh_follows_marks_links_and_case_closing(any_sessions):
    rules = Rules(after_case_days=30)
    with transaction(any_sessions) as s:
        item = add_item(s, "a")
        plain = add_item(s, "b", recorded_end=None)
        retention.refresh(s, [item.id, plain.id], rules)
        assert (item.retention_class, item.keep_until) == ("ordinary", day(180))
        assert plain.keep_until == plain.received_at + timedelta(days=180)
        cases.add_mark(s, item, "important", None, "sup1", AGENT, rules=rules)
        assert (item.retention_class, item.keep_until) == ("important", day(1095))
        case = add_case(s)
        cases.link(s, case, item, "evidence", "sup1", AGENT, rules=rules)
        assert (item.retention_class, item.keep_until, item.retention_because) == (
            "case",
            None,
            "linked to case 2026-031",
        )
        cases.update_case(s, case, AGENT, status="closed", rules=rules)
        assert case.closed_at is not None
        assert item.retention_class == "important"  # 30 days after closing is shorter than 1095 days
        mark = next(m for m in s.query(cases.Mark).filter_by(item_id=item.id))
        cases.remove_mark(s, item, mark.id, AGENT, rules=rules)
        assert (item.retention_class, item.keep_until) == ("case", case.closed_at + timedelta(days=30))
        cases.unlink(s, case, item, "not needed", "sup1", AGENT, rules=rules)
        assert item.retention_class == "ordinary" and item.keep_until == day(180)
        view = item_view(s.get(Item, item.id))
        assert view["retention"]["class"] == "ordinary"
        assert view["retention"]["keep_until"] == "2026-07-09T12:00:00Z"
