"""Database tables. Times are stored as UTC and always come back timezone-aware."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python (SQLite keeps no zone)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class ItemStatus(str, enum.Enum):
    STORED = "stored"  # original stored and verified; probe/proxy pending
    READY = "ready"  # probed, proxy made
    MEDIA_ERROR = "media_error"  # evidence kept, but the media could not be read or converted
    EXPIRED = "expired"  # past its retention; still fully retrievable until purged (evidence/sweeper.py)
    PURGED = "purged"  # original, proxy and poster deleted; the row stays as a tombstone


class TimeSource(str, enum.Enum):
    CONTAINER = "container"
    FILENAME = "filename"
    FILE_MTIME = "file_mtime"


# A recording whose deadline verdict cannot be trusted (evidence/deadline_report.py): no officer, a
# time only from the file's mtime, a recorder clock running ahead, or no verdict. SQL text, so that
# a query stating it word for word can use the partial index ``ix_items_doubtful``.
DOUBTFUL = text("(officer_id IS NULL OR time_source = 'file_mtime' OR recorded_end > received_at OR on_time IS NULL)")


class Item(Base):
    """One unique original recording (by SHA-256)."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(200))
    original_filename: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(Text)  # relative to the upload point (escaped if not UTF-8)
    source_path_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)  # the exact name, when not UTF-8
    source_mtime: Mapped[datetime] = mapped_column(UTCDateTime)
    device_serial: Mapped[str | None] = mapped_column(String(64), index=True)
    officer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    unit: Mapped[str | None] = mapped_column(String(64), index=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_start: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    recorded_end: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # deadline reports by period
    duration_s: Mapped[float | None] = mapped_column(Float)
    time_source: Mapped[str | None] = mapped_column(String(16))
    upload_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    late_by_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.STORED.value, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    container: Mapped[str | None] = mapped_column(String(64))
    video_codec: Mapped[str | None] = mapped_column(String(32))
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    pix_fmt: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    creation_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proxy_key: Mapped[str | None] = mapped_column(String(200))
    proxy_method: Mapped[str | None] = mapped_column(String(16))
    poster_key: Mapped[str | None] = mapped_column(String(200))
    derived_from: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    clip_start_s: Mapped[float | None] = mapped_column(Float)
    clip_end_s: Mapped[float | None] = mapped_column(Float)
    # Retention (evidence/retention.py keeps these current): the class whose rule wins, the date the
    # item may expire (null: kept permanently, or not yet assessed when the class is null too), why.
    retention_class: Mapped[str | None] = mapped_column(String(16), index=True)
    keep_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    retention_because: Mapped[str | None] = mapped_column(Text)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Fixity (evidence/fixity.py): when the stored original was last re-read and hashed, and whether
    # that (or any check since) found it changed or missing: an alarm stays until someone resolves it.
    fixity_alarm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    fixity_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Write-once storage: the object-lock retention date set on the stored original, and its state
    # (the store's answer: retention, legal hold, or unsupported); null until first set.
    lock_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lock_state: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        # the overdue report: a recorder's last arrival by one seek (evidence/overdue.py); originals only
        Index(
            "ix_items_device_received",
            "device_serial",
            "received_at",
            sqlite_where=text("derived_from IS NULL"),
            postgresql_where=text("derived_from IS NULL"),
        ),
        # the deadline report's rows that a rollup cannot hold (evidence/report_rollup.py): the late
        # ones (excuses are decided when the report runs; exact medians) and the doubtful ones (listed)
        Index(
            "ix_items_late",
            "recorded_end",
            "unit",
            "officer_id",
            "device_serial",
            "station_id",
            "late_by_s",
            "time_source",
            "received_at",
            "derived_from",
            "on_time",
            sqlite_where=text("on_time = 0"),
            postgresql_where=text("on_time = false"),
        ),
        Index("ix_items_doubtful", "recorded_end", sqlite_where=DOUBTFUL, postgresql_where=DOUBTFUL),
    )


class ReceiptOutcome(str, enum.Enum):
    NEW = "new"  # became a new item
    DUPLICATE = "duplicate"  # content already held; added to the existing item
    REJECTED = "rejected"  # not taken (zero bytes); the file stays where it is


UNRELEASED = text("source_released_at IS NULL AND outcome != 'rejected'")


class Receipt(Base):
    """One file taken from an upload point: the ingest ledger that makes restarts exactly-once."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    station_id: Mapped[str] = mapped_column(String(64))
    upload_point: Mapped[str] = mapped_column(Text)
    rel_path: Mapped[str] = mapped_column(Text)  # escaped if the name is not UTF-8 (evidence.names)
    rel_path_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)  # the exact name, when not UTF-8
    device_serial: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    source_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_disposition: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_receipts_file", "upload_point", "rel_path", "inode", "mtime_ns", "size_bytes"),
        # the few whose release is still to be recorded, looked for at every rescan
        Index("ix_receipts_unreleased", "upload_point", sqlite_where=UNRELEASED, postgresql_where=UNRELEASED),
    )


class SkippedFile(Base):
    """A file, link or folder in an upload point that ingest leaves alone, and why (rescans keep it current)."""

    __tablename__ = "skipped_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of upload point and exact name
    station_id: Mapped[str] = mapped_column(String(64))
    upload_point: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)  # relative, escaped (evidence.names.printable)
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary)  # the exact relative name
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class CustodyEvent(Base):
    """One leaf of the custody log (evidence/custody.py). Rows are only ever inserted."""

    __tablename__ = "custody_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(Text)
    tool: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # format 1: the hash-chain hash of a row written before revision 0010; format 2: the leaf hash
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[int] = mapped_column(SmallInteger, default=2, server_default="1")
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # commit; occurred_at: the step


class CustodyNode(Base):
    """A complete subtree of the custody log: leaves [idx * 2**level, (idx + 1) * 2**level), level >= 1."""

    __tablename__ = "custody_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CustodyCheckpoint(Base):
    """A signed checkpoint of the custody log (C2SP signed note); a copy is kept in the object store."""

    __tablename__ = "custody_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    origin: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    stored_key: Mapped[str | None] = mapped_column(String(300))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExportState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Export(Base):
    """A case's export package (evidence/export.py), made by a worker job."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    with_proxies: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    state: Mapped[str] = mapped_column(String(16), default=ExportState.QUEUED.value)
    path: Mapped[str | None] = mapped_column(Text)
    items: Mapped[int | None] = mapped_column(Integer)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """A unit of deferred work (probe, proxy, clip, export) that survives restarts."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # "{item}:{kind}" keeps it idempotent
    kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)  # None: a case's job (export)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)  # JSON, for jobs that need more than an item
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # written by each claim; every write of a result checks it (evidence/jobs.py ``fence``)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(SmallInteger, default=50, server_default="50")  # smaller first
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_jobs_claim", "state", "priority", "run_after"),)


class DeviceAssignment(Base):
    """Which officer carried a recorder from ``since`` until ``until`` (open-ended when null)."""

    __tablename__ = "device_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    officer_id: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("serial", "since", name="uq_device_assignment_start"),)


class User(Base):
    """A person who signs in: a unit, one or more roles, and (for officers) a 警号."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated Role values
    officer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # set with every password an administrator hands out; cleared when the owner chooses their own
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInThrottle(Base):
    """Failed sign-ins to one account from one client address: that pair is slowed down, so a
    stranger guessing cannot lock the owner out from elsewhere."""

    __tablename__ = "sign_in_throttle"
    __table_args__ = (UniqueConstraint("user_id", "source", name="uq_sign_in_throttle_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Token(Base):
    """A bearer token; only its SHA-256 is kept, so the table leaks nothing usable."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Case(Base):
    """A case file (案卷): footage is linked to it, reviewers are assigned to it."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last closing; retention counts from it


class CaseReviewer(Base):
    __tablename__ = "case_reviewers"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseItem(Base):
    """One linking of an item to a case; unlinking closes it, history stays."""

    __tablename__ = "case_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    unlinked_by: Mapped[str | None] = mapped_column(String(64))
    unlinked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unlink_reason: Mapped[str | None] = mapped_column(Text)


class Mark(Base):
    """``important`` (重要) or a free tag on an item."""

    __tablename__ = "marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # important | tag
    value: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Grant(Base):
    """Approved access for one user to one item beyond their own unit, with the reason."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Excuse(Base):
    """A supervisor's excuse for lateness: one item, or an officer's or a recorder's items in a window.

    Never edited: revoking sets ``revoked_*`` (and both acts are custody events).
    """

    __tablename__ = "excuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    officer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    device_serial: Mapped[str | None] = mapped_column(String(64), index=True)
    window_from: Mapped[datetime | None] = mapped_column(UTCDateTime)  # recorded_end in [from, to)
    window_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class Shift(Base):
    """A duty period of an officer: when an officer has any, only time on duty counts toward overdue."""

    __tablename__ = "shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[str] = mapped_column(String(64), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))  # cli | api | import
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("officer_id", "starts_at", name="uq_shift_start"),)


class Hold(Base):
    """A legal hold on one item or a whole case: nothing under it is expired or purged."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(64))
    release_reason: Mapped[str | None] = mapped_column(Text)


class ReportRollup(Base):
    """The deadline report's counts per station-local day, grouping dimension and key, and unit
    (for supervisors' scope): kept by evidence/report_rollup.py in the transactions that judge
    recordings, rebuilt by ``evidence report rebuild``. ``key``/``unit`` '' stand for none."""

    __tablename__ = "report_rollup"

    dim: Mapped[str] = mapped_column(String(8), primary_key=True)  # officer | unit | device | station
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    recordings: Mapped[int] = mapped_column(Integer)
    doubtful: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer)  # judged late, excused or not


class ReportRollupState(Base):
    """One row once the rollup exists: the time zone its days are in (null while a rebuild runs)."""

    __tablename__ = "report_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone: Mapped[str | None] = mapped_column(String(64))
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
