"""Typed settings from ``EVIDENCE_*`` environment variables and an optional TOML file.

Precedence: explicit arguments > environment > the TOML file named by
``EVIDENCE_CONFIG`` > defaults. Paths left empty are derived from ``home``.
"""

from __future__ import annotations

import os
import re
import socket
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from evidence.errors import ConfigError
from evidence.retention import Rules

DEFAULT_FILENAME_PATTERNS = [
    # YYYYMMDD_HHMMSS and YYYYMMDDHHMMSS anywhere in the name (not inside a longer digit run)
    r"(?<!\d)(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})[_-]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})(?!\d)",
]


WEB_STATION = "web"

# Operating-system litter: never evidence, never deleted (glob patterns, matched per path component,
# case-insensitive). Hidden names (a leading dot) and partial files are skipped by built-in rules.
DEFAULT_IGNORE = [
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "~$*",
    "System Volume Information",
    "$RECYCLE.BIN",
    "RECYCLER",
    ".Trashes",
    ".Spotlight-V100",
    ".fseventsd",
    ".DS_Store",
    "._*",
]


class UploadPoint(BaseModel):
    """A folder the docking software copies into, and the station that owns it."""

    station_id: str
    path: Path


def _parse_upload_points(value: str, default_station: str) -> list[UploadPoint]:
    points = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        station, sep, path = part.partition("=")
        if not sep:
            station, path = default_station, part
        if not station.strip() or not path.strip():
            raise ValueError(f"upload point {part!r} must be PATH or STATION=PATH")
        points.append(UploadPoint(station_id=station.strip(), path=Path(path.strip()).expanduser()))
    return points


class Settings(BaseSettings):
    """Every setting of the system; see README for the meaning of each."""

    model_config = SettingsConfigDict(env_prefix="EVIDENCE_", extra="forbid", validate_default=True)

    home: Path = Path("./var")
    database_url: str = ""
    storage_url: str = ""
    station_id: str = Field(default_factory=socket.gethostname)
    upload_points: str = ""
    web_upload_dir: Path | None = None
    max_upload_bytes: int = Field(20 * 1024**3, gt=0)
    archive_dirname: str = "_archive"
    source_policy: Literal["delete", "move", "keep"] = "move"
    deadline_hours: float = Field(24.0, gt=0)
    timezone: str = "Asia/Shanghai"
    container_time: Literal["utc", "local"] = "utc"
    filename_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_FILENAME_PATTERNS))
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE))
    settle_seconds: float = Field(10.0, ge=0)
    # files a station hashes, stores and verifies at once, so the cores and the disk overlap across files
    ingest_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    rescan_seconds: float = Field(60.0, gt=0)
    polling: bool = False
    proxy_max_height: int = Field(1080, ge=144)
    transcode_height: int = Field(720, ge=144)
    transcode_preset: str = "veryfast"
    # threads of each transcode's decoder and encoder; 0: ffmpeg's own choice (about every core). A
    # machine running several worker processes sets 1 or 2 so they share the cores instead of fighting
    transcode_threads: int = Field(0, ge=0, le=64)
    transcoding: bool = True
    tool_timeout_seconds: float = Field(3600.0, gt=0)
    probe_timeout_seconds: float = Field(60.0, gt=0)
    job_max_attempts: int = Field(5, ge=1)
    # a worker's hold on a job: renewed every third of it while the handler runs; lapsed, the job is anyone's
    job_lease_seconds: float = Field(60.0, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_threads: int = Field(2, ge=1, le=256)
    access_log: bool = True
    # /metrics, /healthz and /readyz on a port of their own, for a role without the API (unset: none)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    restart_limit: int = Field(8, ge=1)
    api_stream_threads: int = Field(16, ge=1, le=1024)
    retain_days: int = Field(180, ge=1)
    retain_important_days: int = Field(1095, ge=1)
    retain_after_case_days: int | None = Field(None, ge=0)  # unset: a closed case's footage is kept permanently
    retention_grace_days: int = Field(7, ge=0)
    allow_clock_override: bool = False
    # proof (issue 11): the custody log's signed checkpoints, write-once originals, fixity audits
    log_origin: str = Field("evidence.local/custody", pattern=r"^[^\s+]+$")
    signing_key: SecretStr | None = None  # the note-form private key; unset: keys/custody.key in home
    signing_key_file: Path | None = None
    checkpoint_seconds: float = Field(300.0, gt=0)
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    fixity_mbps: float = Field(50.0, gt=0)
    fixity_period_days: float = Field(30.0, gt=0)
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("EVIDENCE_CONFIG")
        if toml_file:
            if not Path(toml_file).is_file():
                raise ConfigError(f"EVIDENCE_CONFIG: no such file: {toml_file}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("filename_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from exc
            missing = {"Y", "m", "d", "H", "M", "S"} - set(compiled.groupindex)
            if missing:
                raise ValueError(f"pattern {pattern!r} lacks named groups {sorted(missing)}")
        return value

    @field_validator("ignore")
    @classmethod
    def _plain_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern.strip() or "/" in pattern:
                raise ValueError(f"ignore pattern {pattern!r} must be a non-empty name pattern without '/'")
        return value

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        self.home = self.home.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'evidence.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{self.home / 'objects'}"
        if not self.upload_points:
            self.upload_points = str(self.home / "upload")
        if self.signing_key_file is None:
            self.signing_key_file = self.home / "keys" / "custody.key"
        self.signing_key_file = self.signing_key_file.expanduser().absolute()
        if self.web_upload_dir is None:
            self.web_upload_dir = self.home / "web-upload"
        self.web_upload_dir = self.web_upload_dir.expanduser().absolute()
        _parse_upload_points(self.upload_points, self.station_id)
        from storage_config.urls import parse_database_url, parse_storage_url

        parse_storage_url(self.storage_url)
        parse_database_url(self.database_url)
        return self

    @property
    def points(self) -> list[UploadPoint]:
        """The docking upload points, then the one browser uploads land in (station ``web``)."""
        return _parse_upload_points(self.upload_points, self.station_id) + [self.web_point]

    @property
    def web_point(self) -> UploadPoint:
        return UploadPoint(station_id=WEB_STATION, path=self.web_upload_dir)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def retention(self) -> Rules:
        """The retention periods, as the domain takes them."""
        return Rules(self.retain_days, self.retain_important_days, self.retain_after_case_days)

    @property
    def work_dir(self) -> Path:
        return self.home / "work"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation failures into a ConfigError naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "EVIDENCE_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
