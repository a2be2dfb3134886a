"""Object store on any S3 server (MinIO, Ceph RGW, AWS) through the minio SDK.

Every call has connect/read timeouts; idempotent requests are retried by
urllib3 with backoff. SDK and transport errors become StoreUnavailable.

Object lock: a bucket this store creates has object lock enabled (which also
turns versioning on); an existing bucket without it is used as it is, with a
warning (``lock_status`` says ``off``). Retention and legal holds are set by
separate calls after an object is stored (PutObjectRetention /
PutObjectLegalHold, which the SDK always sends with a Content-MD5): originals
are uploaded under ``incoming/`` and copied to their final key, so a lock given
with the upload would sit on the wrong object, and the SDK sends no Content-MD5
with a plain-HTTP PutObject, which S3 requires when it carries a lock. Each call
pins the version it locks (its id is reported).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, cast

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, GOVERNANCE, ComposeSource, CopySource
from minio.error import MinioException, S3Error
from minio.retention import Retention
from minio.time import from_iso8601utc
from minio.versioningconfig import VersioningConfig

from evidence import retries
from evidence.errors import ObjectExists, StoreUnavailable
from evidence.objectstore import (
    CHUNK,
    LOCK_OFF,
    LOCK_ON,
    RECORD_RETENTION,
    UNSUPPORTED,
    LockResult,
    Readable,
    sweep_folder,
)

log = logging.getLogger(__name__)

PART_SIZE = 16 * 1024 * 1024
MAX_SINGLE_COPY = 5 * 1024**3
MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchVersion"}
NO_LOCK_CONFIG = {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}
MAX_PRESIGN_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may be valid
MODES = {"COMPLIANCE": COMPLIANCE, "GOVERNANCE": GOVERNANCE}
TRANSPORT_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError)


def _http_client(connect_timeout: float, read_timeout: float) -> urllib3.PoolManager:
    policy = retries.STORE_REQUEST
    # urllib3 sleeps backoff_factor * 2**(n-1) before the n-th retry (the first is at once), up to backoff_max
    retry = urllib3.Retry(
        total=(policy.attempts or 1) - 1,
        backoff_factor=policy.first_s,
        backoff_max=policy.cap_s,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "DELETE"}),
        raise_on_status=False,
    )
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=retry,
        maxsize=8,
    )


class S3Store:
    """Objects in one bucket of an S3 server."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool,
        region: str | None,
        staging: Path,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        lock_mode: str = "COMPLIANCE",
    ):
        if lock_mode not in MODES:
            raise ValueError(f"lock mode must be COMPLIANCE or GOVERNANCE, not {lock_mode!r}")
        self.bucket = bucket
        self.lock_mode = MODES[lock_mode]
        self._lock_on: bool | None = None  # asked of the server once
        self._staging = Path(staging)
        self.description = f"s3://{endpoint}/{bucket}"
        self.local = False  # written from a stream: the caller hashes what passes through
        self.client = Minio(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=_http_client(connect_timeout, read_timeout),
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except S3Error as exc:
            raise StoreUnavailable(f"{what} on {self.description}: {exc.code}: {exc.message}") from exc
        except TRANSPORT_ERRORS as exc:
            raise StoreUnavailable(f"{what} on {self.description}: {exc}") from exc

    def ensure_ready(self) -> None:
        self._staging.mkdir(parents=True, exist_ok=True)
        with self._errors("provisioning bucket"):
            if not self.client.bucket_exists(bucket_name=self.bucket):
                self._make_bucket()
            self.client.set_bucket_versioning(bucket_name=self.bucket, config=VersioningConfig(ENABLED))
        if self.lock_status() == LOCK_OFF:
            log.warning("%s", self.lock_warning())

    def _make_bucket(self) -> None:
        try:
            self.client.make_bucket(bucket_name=self.bucket, object_lock=True)
        except S3Error as exc:
            if exc.code in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                return
            if exc.code not in {"NotImplemented", "InvalidRequest", "InvalidArgument"}:
                raise
            # a server without object lock: a bucket all the same, and the warning says what it lacks
            log.warning("%s cannot create a bucket with object lock (%s: %s)", self.description, exc.code, exc.message)
            self.client.make_bucket(bucket_name=self.bucket)

    def lock_warning(self) -> str:
        """What an operator is told about a bucket without object lock."""
        return (
            f"bucket {self.bucket} on {self.description} has no object lock: originals and checkpoints are "
            "stored without retention, so anyone with delete rights on the bucket can remove them. Object lock "
            "can only be chosen when a bucket is created: create a new bucket with it and copy the objects "
            "over (docs/operations.md, 'Object lock')"
        )

    def lock_status(self) -> str:
        if self._lock_on is None:
            with self._errors("reading the object-lock configuration"):
                try:
                    config = self.client.get_object_lock_config(bucket_name=self.bucket)
                    # minio-py reads no ObjectLockEnabled element: a configuration that parses is one
                    self._lock_on = config is not None
                except S3Error as exc:
                    if exc.code not in NO_LOCK_CONFIG:
                        raise
                    self._lock_on = False
        return LOCK_ON if self._lock_on else LOCK_OFF

    def _lock_of(self, key: str) -> tuple[str | None, Retention | None]:
        """The current version of ``key`` and the retention on it, from the object's headers
        (HeadObject reports them to whoever may read them; moto answers no GetObjectRetention)."""
        try:
            stat = self.client.stat_object(bucket_name=self.bucket, object_name=key)
        except S3Error as exc:
            if exc.code in MISSING:
                raise StoreUnavailable(f"cannot lock {key}: no such object on {self.description}") from exc
            raise
        headers = stat.metadata or {}
        mode = headers.get("x-amz-object-lock-mode")
        until = from_iso8601utc(headers.get("x-amz-object-lock-retain-until-date"))
        return stat.version_id, (Retention(mode, until) if mode in MODES and until is not None else None)

    def retain(self, key: str, until: datetime) -> LockResult:
        if self.lock_status() != LOCK_ON:
            return UNSUPPORTED
        with self._errors(f"setting the retention of {key}"):
            version, current = self._lock_of(key)
            if current is not None and current.retain_until_date >= until:
                return LockResult(True, current.mode, current.retain_until_date, None, version)
            # extend in the mode already on the object: S3 refuses turning COMPLIANCE into GOVERNANCE,
            # and going the other way needs the bypass permission this system does not ask for
            mode = current.mode if current is not None else self.lock_mode
            self.client.set_object_retention(
                bucket_name=self.bucket, object_name=key, config=Retention(mode, until), version_id=version
            )
            return LockResult(True, mode, until, None, version)

    def legal_hold(self, key: str, on: bool) -> LockResult:
        if self.lock_status() != LOCK_ON:
            return UNSUPPORTED
        with self._errors(f"{'placing' if on else 'releasing'} the legal hold of {key}"):
            version, current = self._lock_of(key)
            if on:
                self.client.enable_object_legal_hold(bucket_name=self.bucket, object_name=key, version_id=version)
            else:
                self.client.disable_object_legal_hold(bucket_name=self.bucket, object_name=key, version_id=version)
            if current is None:
                return LockResult(True, None, None, on, version)
            return LockResult(True, current.mode, current.retain_until_date, on, version)

    def versioning_enabled(self) -> bool:
        with self._errors("reading versioning"):
            return self.client.get_bucket_versioning(bucket_name=self.bucket).status == ENABLED

    def staging_dir(self) -> Path:
        return self._staging

    def discard_partial(self, older_than_s: float) -> int:
        # downloads for tools (``.get``) and tool output waiting for upload; multipart leftovers
        # under ``incoming/`` are the daemon's to sweep, through list_keys and delete
        return sweep_folder(self._staging, older_than_s)

    def write(self, key: str, reader: Readable, length: int, durable: bool = True) -> None:
        with self._errors(f"writing {key}"):
            self.client.put_object(
                bucket_name=self.bucket,
                object_name=key,
                # minio only ever calls read(n) on it (its type says BinaryIO)
                data=cast(BinaryIO, reader),
                length=length,
                part_size=PART_SIZE,
            )

    def sync(self, key: str) -> None:
        pass  # an acknowledged PUT is already durable on the server

    def put_file(self, key: str, path: Path, durable: bool = True) -> None:
        path = Path(path)
        with open(path, "rb") as f:
            self.write(key, f, path.stat().st_size)
        if path.parent == self._staging:
            path.unlink(missing_ok=True)

    def move(self, src: str, dst: str) -> None:
        if self.size(dst) is None:
            with self._errors(f"copying {src} to {dst}"):
                size = self.size(src)
                if size is None:
                    raise StoreUnavailable(f"{src} vanished before it could be moved to {dst}")
                if size > MAX_SINGLE_COPY:
                    self.client.compose_object(
                        bucket_name=self.bucket,
                        object_name=dst,
                        sources=[ComposeSource(bucket_name=self.bucket, object_name=src)],
                    )
                else:
                    self.client.copy_object(
                        bucket_name=self.bucket,
                        object_name=dst,
                        source=CopySource(bucket_name=self.bucket, object_name=src),
                    )
        self.delete(src)

    def size(self, key: str) -> int | None:
        with self._errors(f"stat {key}"):
            try:
                return self.client.stat_object(bucket_name=self.bucket, object_name=key).size
            except S3Error as exc:
                if exc.code in MISSING:
                    return None
                raise

    def iter_chunks(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        with self._errors(f"reading {key}"):
            response = self.client.get_object(
                bucket_name=self.bucket, object_name=key, offset=start, length=length or 0
            )
            try:
                yield from response.stream(CHUNK)
            finally:
                response.close()
                response.release_conn()

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        self._staging.mkdir(parents=True, exist_ok=True)
        path = self._staging / f"{uuid.uuid4().hex}.get"
        try:
            with self._errors(f"downloading {key}"):
                self.client.fget_object(bucket_name=self.bucket, object_name=key, file_path=str(path))
            yield path
        finally:
            path.unlink(missing_ok=True)

    def tool_input(self, key: str, valid_s: float) -> str:
        # signed locally (the region is given or asked of the server once); no object is read here
        seconds = max(1, min(math.ceil(valid_s), MAX_PRESIGN_S))
        with self._errors(f"presigning {key}"):
            return self.client.presigned_get_object(
                bucket_name=self.bucket, object_name=key, expires=timedelta(seconds=seconds)
            )

    def delete(self, key: str) -> None:
        # The bucket is versioned: removing only the latest would leave the bytes
        # behind a delete marker, so every version of the key goes.
        with self._errors(f"deleting {key}"):
            versions = [
                obj.version_id
                for obj in self.client.list_objects(
                    bucket_name=self.bucket, prefix=key, recursive=True, include_version=True
                )
                if obj.object_name == key
            ]
            for version_id in versions or [None]:
                self.client.remove_object(bucket_name=self.bucket, object_name=key, version_id=version_id)

    def list_keys(self, prefix: str) -> Iterator[tuple[str, float]]:
        with self._errors(f"listing {prefix}"):
            for obj in self.client.list_objects(bucket_name=self.bucket, prefix=prefix, recursive=True):
                modified = obj.last_modified.timestamp() if obj.last_modified else time.time()
                yield obj.object_name, modified

    def put_record(self, key: str, data: bytes) -> None:
        if self.size(key) is None:
            self.write(key, io.BytesIO(data), len(data))
        elif self.read_record(key) != data:
            raise ObjectExists(f"record {key} already holds other bytes on {self.description}")
        if self.lock_status() == LOCK_ON:
            # once only: a record is kept for RECORD_RETENTION from when it was stored (and a crash
            # between the upload and this call is mended when the same record is stored again)
            with self._errors(f"reading the retention of {key}"):
                _, current = self._lock_of(key)
            if current is None:
                self.retain(key, datetime.now(UTC) + RECORD_RETENTION)

    def read_record(self, key: str) -> bytes:
        with self._errors(f"reading {key}"):
            try:
                response = self.client.get_object(bucket_name=self.bucket, object_name=key)
            except S3Error as exc:
                if exc.code in MISSING:
                    raise FileNotFoundError(key) from exc
                raise
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()
