"""Settings for tests: rooted in a test's folder, with short windows."""

from __future__ import annotations

from pathlib import Path

from storage_config.settings import Settings, load_settings


def settings_for(home: Path, **overrides) -> Settings:
    """Settings rooted in ``home``, with short settle and rescan windows."""
    base = dict(
        home=home,
        station_id="ST01",
        timezone="Asia/Shanghai",
        settle_seconds=0.3,
        rescan_seconds=1.0,
        tool_timeout_seconds=120,
    )
    base.update(overrides)
    return load_settings(**base)
