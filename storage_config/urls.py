"""Parsing and masking of the storage and database URLs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from evidence.errors import ConfigError


@dataclass(frozen=True)
class FileStoreURL:
    root: Path


@dataclass(frozen=True)
class S3StoreURL:
    endpoint: str  # host:port
    bucket: str
    access_key: str
    secret_key: str
    secure: bool
    region: str | None


def parse_storage_url(url: str) -> FileStoreURL | S3StoreURL:
    """``file:///path`` or ``s3://ACCESS:SECRET@HOST:PORT/BUCKET?secure=false&region=R``."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ConfigError("EVIDENCE_STORAGE_URL: file:// URL needs a path")
        return FileStoreURL(root=Path(path).expanduser().absolute())
    if parts.scheme == "s3":
        query = parse_qs(parts.query)
        bucket = parts.path.strip("/")
        if not parts.hostname or not bucket or "/" in bucket:
            raise ConfigError("EVIDENCE_STORAGE_URL: expected s3://ACCESS:SECRET@HOST:PORT/BUCKET")
        if not parts.username or parts.password is None:
            raise ConfigError("EVIDENCE_STORAGE_URL: s3 URL needs ACCESS:SECRET@ credentials")
        secure_text = query.get("secure", ["true"])[0].lower()
        if secure_text not in {"true", "false", "1", "0"}:
            raise ConfigError("EVIDENCE_STORAGE_URL: secure must be true or false")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"EVIDENCE_STORAGE_URL: {exc}") from exc
        endpoint = parts.hostname + (f":{port}" if port else "")
        return S3StoreURL(
            endpoint=endpoint,
            bucket=bucket,
            access_key=unquote(parts.username),
            secret_key=unquote(parts.password),
            secure=secure_text in {"true", "1"},
            region=query.get("region", [None])[0],
        )
    raise ConfigError(f"EVIDENCE_STORAGE_URL: unsupported scheme {parts.scheme!r} (use file:// or s3://)")


def parse_database_url(url: str) -> str:
    """Check the database URL names a supported backend; returns it unchanged."""
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgresql+psycopg", "postgresql"}:
        raise ConfigError(
            f"EVIDENCE_DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql+psycopg://)"
        )
    if scheme == "postgresql":
        url = "postgresql+psycopg" + url[len("postgresql") :]
    return url


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
