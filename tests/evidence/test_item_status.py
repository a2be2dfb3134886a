"""The table of status moves, walked whole: each allowed move works, every other pair is refused."""

from __future__ import annotations

import itertools

import pytest

from evidence import item_status
from evidence.errors import TransitionRefused
from evidence.models import Item, ItemStatus

PAIRS = list(itertools.product(ItemStatus, repeat=2))


def _item(status: ItemStatus) -> Item:
    return Item(id=1, status=status.value, error="earlier" if status is ItemStatus.MEDIA_ERROR else None)


def _error_for(to: ItemStatus) -> str | None:
    return "probe: unreadable" if to is ItemStatus.MEDIA_ERROR else None


def test_the_table_names_every_status():
    assert set(item_status.TRANSITIONS) == set(ItemStatus)
    assert item_status.INITIAL is ItemStatus.STORED


@pytest.mark.parametrize(("current", "to"), [p for p in PAIRS if item_status.allowed(*p)], ids=str)
def test_an_allowed_move_sets_status_and_error(current, to):
    item = _item(current)
    before = item.error
    item_status.move(item, to, _error_for(to))
    kept = to in (ItemStatus.EXPIRED, ItemStatus.PURGED)  # expiry keeps the error, for a restore
    assert item.status == to.value and item.error == (before if kept else _error_for(to))


@pytest.mark.parametrize(("current", "to"), [p for p in PAIRS if not item_status.allowed(*p)], ids=str)
def test_every_other_move_is_refused_and_changes_nothing(current, to):
    item = _item(current)
    before = item.status, item.error
    with pytest.raises(TransitionRefused, match=f"is {current.value}; it cannot become {to.value}"):
        item_status.move(item, to, _error_for(to))
    assert (item.status, item.error) == before


def test_the_allowed_moves_are_exactly_these():
    assert {p for p in PAIRS if item_status.allowed(*p)} == {
        (ItemStatus.STORED, ItemStatus.READY),
        (ItemStatus.STORED, ItemStatus.MEDIA_ERROR),
        (ItemStatus.READY, ItemStatus.EXPIRED),
        (ItemStatus.MEDIA_ERROR, ItemStatus.EXPIRED),
        (ItemStatus.MEDIA_ERROR, ItemStatus.STORED),  # an operator retries the failed job that gave the error
        (ItemStatus.EXPIRED, ItemStatus.PURGED),
        (ItemStatus.EXPIRED, ItemStatus.READY),
        (ItemStatus.EXPIRED, ItemStatus.MEDIA_ERROR),
    }


def test_expiry_keeps_the_media_error_text_for_a_restore():
    item = _item(ItemStatus.MEDIA_ERROR)
    item_status.move(item, ItemStatus.EXPIRED)
    assert item.error == "earlier"
    item_status.move(item, ItemStatus.MEDIA_ERROR, item.error)
    assert (item.status, item.error) == ("media_error", "earlier")


def test_a_media_error_needs_its_text_and_ready_takes_none():
    with pytest.raises(TransitionRefused):
        item_status.move(_item(ItemStatus.STORED), ItemStatus.MEDIA_ERROR)
    with pytest.raises(TransitionRefused):
        item_status.move(_item(ItemStatus.STORED), ItemStatus.READY, "no")
