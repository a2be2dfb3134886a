"""An item's status and the only moves between statuses.

An item is created ``STORED``; its probe and proxy jobs settle it once, as ``READY`` or
``MEDIA_ERROR``: the original is evidence either way. Only an operator's retry of the failed job
that gave the error reopens it (``STORED`` again, evidence/jobs.py ``requeue``): a cause fixed since
(a tool missing, a store outage beyond the attempts) must not leave the footage unviewable for good.
Past its retention the sweeper makes it ``EXPIRED`` (still retrievable); a later link, mark or
hold restores it (to ``READY``, or ``MEDIA_ERROR`` when it has an error); after the grace period
it is ``PURGED`` (media deleted, the row a tombstone), which is final. ``move`` is the one place a
status changes.
"""

from __future__ import annotations

from evidence.errors import TransitionRefused
from evidence.models import Item, ItemStatus

INITIAL = ItemStatus.STORED

# from -> the statuses it may move to
TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.STORED: frozenset({ItemStatus.READY, ItemStatus.MEDIA_ERROR}),
    ItemStatus.READY: frozenset({ItemStatus.EXPIRED}),
    ItemStatus.MEDIA_ERROR: frozenset({ItemStatus.EXPIRED, ItemStatus.STORED}),
    ItemStatus.EXPIRED: frozenset({ItemStatus.PURGED, ItemStatus.READY, ItemStatus.MEDIA_ERROR}),
    ItemStatus.PURGED: frozenset(),
}


def allowed(current: ItemStatus, to: ItemStatus) -> bool:
    """May an item in ``current`` move to ``to``?"""
    return to in TRANSITIONS[current]


def move(item: Item, to: ItemStatus, error: str | None = None) -> None:
    """Set ``item``'s status to ``to`` (with ``error`` for MEDIA_ERROR); TransitionRefused if not allowed.

    Expiring and purging keep the item's error text: a restore goes back to MEDIA_ERROR with it."""
    current = ItemStatus(item.status)
    if not allowed(current, to):
        raise TransitionRefused(f"item {item.id} is {current.value}; it cannot become {to.value}")
    if (to is ItemStatus.MEDIA_ERROR) != (error is not None):
        raise TransitionRefused(f"item {item.id}: an error text goes with media_error and only with it")
    item.status = to.value
    if to not in (ItemStatus.EXPIRED, ItemStatus.PURGED):
        item.error = error
