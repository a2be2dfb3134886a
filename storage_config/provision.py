"""Build the configured object store and make it ready (bucket, versioning)."""

from __future__ import annotations

from evidence.adapters.filestore import FileStore
from evidence.adapters.s3store import S3Store
from evidence.objectstore import LOCK_OFF, LOCK_UNSUPPORTED, ObjectStore
from storage_config.settings import Settings
from storage_config.urls import FileStoreURL, parse_storage_url


def open_store(settings: Settings) -> ObjectStore:
    """The object store named by ``EVIDENCE_STORAGE_URL`` (not yet provisioned)."""
    url = parse_storage_url(settings.storage_url)
    if isinstance(url, FileStoreURL):
        return FileStore(url.root)
    return S3Store(
        url.endpoint,
        url.bucket,
        url.access_key,
        url.secret_key,
        secure=url.secure,
        region=url.region,
        staging=settings.work_dir / "s3-staging",
        lock_mode=settings.lock_mode,
    )


def provision(store: ObjectStore) -> None:
    """Create the bucket (with object lock, when new) or folder and enable versioning; safe to repeat.

    An existing bucket without object lock is used as it is: the store logs a warning, and
    ``lock_report`` tells /healthz and ``evidence status`` the same.
    """
    store.ensure_ready()


def lock_report(store: ObjectStore) -> dict[str, str | None]:
    """Whether stored originals can be locked, and the warning when an S3 bucket cannot."""
    status = store.lock_status()
    warning = None
    if status == LOCK_OFF and isinstance(store, S3Store):
        warning = store.lock_warning()
    elif status == LOCK_UNSUPPORTED:
        warning = None  # the folder store: read-only files, documented; nothing an operator can change
    return {"object_lock": status, "warning": warning}
