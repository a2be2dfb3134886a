"""Reading items: lookup and the public view of one item.

An original with no recorder (a file at the root of an upload point, an upload naming no device) is
*unattributed*: kept as evidence like any other, but with no officer or unit until a supervisor
attributes it to a recorder (evidence/attribution.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from evidence.errors import InvalidInput, NotFound
from evidence.models import Case, DeviceAssignment, Item, Receipt, ReceiptOutcome, User

# The largest id a row can have: ids are INTEGER columns, 32-bit on PostgreSQL. A larger number
# names nothing, and must not reach the driver (it overflows there: 2^63 on SQLite, 2^31 on PostgreSQL).
MAX_ID = 2**31 - 1


def valid_id(value: int) -> bool:
    """Could ``value`` be a row id? (Out-of-range ints overflow the database driver.)"""
    return 1 <= value <= MAX_ID


def time_filter(moment: datetime, what: str) -> datetime:
    """A time a caller filters on, in UTC; refused without a zone, or beyond the years 1-9999 once in UTC."""
    if moment.tzinfo is None:
        raise InvalidInput(f"{what}: a time needs a zone, e.g. 2026-11-01T00:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{what}: out of range once in UTC") from exc


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: datetime | None) -> str | None: ...
def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


# An item as the ORM loads it, or a Core row of the items table (same attribute names): code
# that only reads an item's columns takes either, so hot read paths can skip the ORM.
ItemLike = Item | Row[Any]


def is_unattributed(item: ItemLike) -> bool:
    """An original whose recorder is unknown (a clip follows its source instead)."""
    return item.device_serial is None and item.derived_from is None


def unattributed_clause(wanted: bool = True) -> ColumnElement[bool]:
    """SQL for ``is_unattributed`` (or, ``wanted`` False, for its opposite)."""
    clause = and_(Item.device_serial.is_(None), Item.derived_from.is_(None))
    return clause if wanted else not_(clause)


def get_item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"no item {item_id}")
    return item


def item_view(item: ItemLike) -> dict[str, Any]:
    """The fields of ``evidence show --json`` (and of the API's item resource)."""
    return {
        "id": item.id,
        "sha256": item.sha256,
        "size_bytes": item.size_bytes,
        "original_filename": item.original_filename,
        "source_path": item.source_path,
        # the exact bytes of a name that had to be escaped (not UTF-8, or with control characters)
        "source_path_hex": item.source_path_bytes.hex() if item.source_path_bytes is not None else None,
        "device_serial": item.device_serial,
        "unattributed": is_unattributed(item),
        "officer_id": item.officer_id,
        "unit": item.unit,
        "station_id": item.station_id,
        "recorded_start": iso(item.recorded_start),
        "recorded_end": iso(item.recorded_end),
        "duration_s": item.duration_s,
        "time_source": item.time_source,
        "received_at": iso(item.received_at),
        "stored_at": iso(item.stored_at),
        "upload_deadline": iso(item.upload_deadline),
        "on_time": item.on_time,
        "late_by_s": item.late_by_s,
        "status": item.status,
        "media": {
            "container": item.container,
            "video_codec": item.video_codec,
            "audio_codec": item.audio_codec,
            "width": item.width,
            "height": item.height,
            "fps": item.fps,
        },
        "proxy_available": item.proxy_key is not None,
        "error": item.error,
        # evidence/retention.py: the rule that wins (null class: not assessed yet); keep_until null: permanent
        "retention": {
            "class": item.retention_class,
            "keep_until": iso(item.keep_until),
            "because": item.retention_because,
            "expired_at": iso(item.expired_at),
            "purged_at": iso(item.purged_at),
        },
        # evidence/fixity.py: an alarm stays set, even after a later check passes, until resolved
        "fixity": {"alarm": bool(item.fixity_alarm), "checked_at": iso(item.fixity_checked_at)},
    }


def list_items(session: Session, unattributed: bool | None = None) -> list[Item]:
    """Every item, or only the unattributed ones (True) or only the others (False)."""
    query = select(Item).order_by(Item.id)
    if unattributed is not None:
        query = query.where(unattributed_clause(unattributed))
    return list(session.scalars(query))


# Where a name used as a filter may be known from: a name found in none of them is a typo, and
# answering "nothing matches" would hide it.
NAMED_BY = {
    "officer": (Item.officer_id, User.officer_id, DeviceAssignment.officer_id),
    "unit": (Item.unit, User.unit, DeviceAssignment.unit, Case.unit),
    "device": (Item.device_serial, DeviceAssignment.serial),
    "station": (Item.station_id,),
}


def check_names(session: Session, **names: str | None) -> None:
    """Refuse (InvalidInput) a filter value in NAMED_BY that names nothing this system knows."""
    for what, value in names.items():
        if value is None:
            continue
        if not session.scalar(select(or_(*(exists().where(column == value) for column in NAMED_BY[what])))):
            raise InvalidInput(f"{what}: no {what} {value!r} is known")


def rejected_receipts(session: Session) -> list[Receipt]:
    """Files that were not taken, with the recorded reason."""
    return list(
        session.scalars(select(Receipt).where(Receipt.outcome == ReceiptOutcome.REJECTED.value).order_by(Receipt.id))
    )


def receipt_view(receipt: Receipt) -> dict[str, Any]:
    return {
        "receipt_id": receipt.id,
        "status": "rejected",
        "station_id": receipt.station_id,
        "upload_point": receipt.upload_point,
        "source_path": receipt.rel_path,
        "device_serial": receipt.device_serial,
        "size_bytes": receipt.size_bytes,
        "received_at": iso(receipt.received_at),
        "reason": receipt.reason,
    }
