"""Build the configured object store and make it ready (bucket, versioning)."""

from __future__ import annotations

from evidence.adapters.filestore import FileStore
from evidence.adapters.s3store import S3Store
from evidence.objectstore import ObjectStore
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
    )


def provision(store: ObjectStore) -> None:
    """Create the bucket or folder and enable versioning; safe to repeat."""
    store.ensure_ready()
