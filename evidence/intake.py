"""Recording what ingest did, each outcome in one transaction with its custody events.

The ingest pipeline (``ingest/pipeline.py``) does the reading and storing; it
calls these to write the item, the receipt (the ledger of files taken from an
upload point, which makes restarts exactly-once) and the custody events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import custody, item_status, jobs
from evidence.custody import EventKind, Outcome
from evidence.items import iso
from evidence.models import UNRELEASED, Item, Receipt, ReceiptOutcome, utcnow


@dataclass(frozen=True)
class Arrival:
    """A source file as ingest found it."""

    station_id: str
    upload_point: str
    rel_path: str
    device_serial: str | None
    size_bytes: int
    mtime_ns: int
    inode: int
    received_at: datetime
    uploaded_by: str | None = None
    rel_path_bytes: bytes | None = None  # the exact name when it is not UTF-8 (rel_path is then escaped)

    @property
    def filename(self) -> str:
        return self.rel_path.rsplit("/", 1)[-1]

    def as_details(self) -> dict:
        details = {
            "station_id": self.station_id,
            "upload_point": self.upload_point,
            "path": self.rel_path,
            "device_serial": self.device_serial,
            "size_bytes": self.size_bytes,
            "received_at": iso(self.received_at),
            "uploaded_by": self.uploaded_by,
        }
        if self.rel_path_bytes is not None:
            details["path_bytes_hex"] = self.rel_path_bytes.hex()
        return details


@dataclass(frozen=True)
class StoredCopy:
    """An original streamed into the store, with its hash and verification."""

    sha256: str
    size_bytes: int
    object_key: str
    store: str
    hash_tool: str
    hashed_at: datetime
    stored_at: datetime
    verified_at: datetime
    verify_method: str
    taken_at: datetime | None = None  # when ingest began reading the source: the custody of the copy begins


def find_receipt(session: Session, arrival: Arrival) -> Receipt | None:
    """The receipt for this very file (same path, inode, size and mtime), if it was taken before."""
    return session.scalars(
        select(Receipt)
        .where(
            Receipt.upload_point == arrival.upload_point,
            Receipt.rel_path == arrival.rel_path,
            Receipt.rel_path_bytes.is_(None)
            if arrival.rel_path_bytes is None
            else Receipt.rel_path_bytes == arrival.rel_path_bytes,
            Receipt.inode == arrival.inode,
            Receipt.mtime_ns == arrival.mtime_ns,
            Receipt.size_bytes == arrival.size_bytes,
        )
        .order_by(Receipt.id.desc())
    ).first()


def _receipt(arrival: Arrival, outcome: ReceiptOutcome, item_id: int | None, reason: str | None) -> Receipt:
    return Receipt(
        item_id=item_id,
        station_id=arrival.station_id,
        upload_point=arrival.upload_point,
        rel_path=arrival.rel_path,
        rel_path_bytes=arrival.rel_path_bytes,
        device_serial=arrival.device_serial,
        size_bytes=arrival.size_bytes,
        mtime_ns=arrival.mtime_ns,
        inode=arrival.inode,
        received_at=arrival.received_at,
        outcome=outcome.value,
        reason=reason,
    )


def record_rejection(session: Session, arrival: Arrival, reason: str, agent: str) -> Receipt:
    """A file that cannot become evidence: kept in place, its reason recorded."""
    receipt = _receipt(arrival, ReceiptOutcome.REJECTED, None, reason)
    session.add(receipt)
    session.flush()
    custody.append(
        session,
        EventKind.REJECTED,
        agent=agent,
        outcome=Outcome.FAILURE,
        details={**arrival.as_details(), "receipt_id": receipt.id, "reason": reason},
    )
    return receipt


def record_stored(session: Session, arrival: Arrival, copy: StoredCopy, agent: str) -> tuple[Item, Receipt, bool]:
    """Record a verified stored original: a new item, or a duplicate receipt on the existing one."""
    item = session.scalars(select(Item).where(Item.sha256 == copy.sha256)).first()
    already = find_receipt(session, arrival)
    if item is not None and already is not None and already.item_id == item.id:
        return item, already, False  # another ingester took this very file a moment ago
    if item is not None:
        receipt = _receipt(arrival, ReceiptOutcome.DUPLICATE, item.id, "content already held")
        session.add(receipt)
        session.flush()
        custody.append(
            session,
            EventKind.DUPLICATE_RECEIVED,
            agent=agent,
            item_id=item.id,
            occurred_at=copy.taken_at,
            details={
                **arrival.as_details(),
                "receipt_id": receipt.id,
                "sha256": copy.sha256,
                "verified_at": iso(copy.verified_at),
            },
        )
        return item, receipt, False

    item = Item(
        sha256=copy.sha256,
        size_bytes=copy.size_bytes,
        object_key=copy.object_key,
        original_filename=arrival.filename,
        source_path=arrival.rel_path,
        source_path_bytes=arrival.rel_path_bytes,
        source_mtime=datetime.fromtimestamp(arrival.mtime_ns / 1e9, tz=utcnow().tzinfo),
        device_serial=arrival.device_serial,
        station_id=arrival.station_id,
        uploaded_by=arrival.uploaded_by,
        received_at=arrival.received_at,
        stored_at=copy.stored_at,
        status=item_status.INITIAL.value,
    )
    session.add(item)
    session.flush()
    receipt = _receipt(arrival, ReceiptOutcome.NEW, item.id, None)
    session.add(receipt)
    session.flush()
    # each event occurred when its step did (the copy's times), not when this transaction commits
    steps = [
        (EventKind.RECEIVED, copy.taken_at, None, {**arrival.as_details(), "receipt_id": receipt.id}),
        (
            EventKind.HASHED,
            copy.hashed_at,
            copy.hash_tool,
            {"algorithm": "sha256", "sha256": copy.sha256, "size_bytes": copy.size_bytes, "at": iso(copy.hashed_at)},
        ),
        (
            EventKind.STORED,
            copy.stored_at,
            None,
            {"store": copy.store, "key": copy.object_key, "at": iso(copy.stored_at)},
        ),
        (
            EventKind.VERIFIED,
            copy.verified_at,
            copy.hash_tool,
            {"method": copy.verify_method, "sha256": copy.sha256, "at": iso(copy.verified_at)},
        ),
    ]
    for kind, occurred_at, tool, details in steps:
        custody.append(session, kind, agent=agent, item_id=item.id, tool=tool, details=details, occurred_at=occurred_at)
    jobs.enqueue(session, item.id, jobs.FIRST_JOB)
    return item, receipt, True


def record_release(session: Session, receipt: Receipt, disposition: str, agent: str) -> None:
    """The source file was deleted, moved or kept after its copy was verified."""
    receipt = session.get(Receipt, receipt.id, with_for_update=True) or session.merge(receipt)
    if receipt.source_released_at is not None:
        return  # released already (a racing ingester got there first)
    receipt.source_released_at = utcnow()
    receipt.source_disposition = disposition
    custody.append(
        session,
        EventKind.SOURCE_RELEASED,
        agent=agent,
        item_id=receipt.item_id,
        details={"receipt_id": receipt.id, "path": receipt.rel_path, "disposition": disposition},
    )


def unreleased_receipts(session: Session, upload_point: str) -> list[Receipt]:
    """Receipts whose source was stored but not yet released (a crash came between)."""
    return list(
        session.scalars(
            # the partial index's own predicate, word for word, so that the planner can use it
            select(Receipt).where(Receipt.upload_point == upload_point, UNRELEASED)
        )
    )
