"""Shared fixtures: real clips, a real S3 server, real PostgreSQL, and runtimes over them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ingest.runtime import open_runtime
from storage_config.settings import load_settings
from tests.media import build_library
from tests.servers import (
    PG_ADMIN_URL,
    MotoServer,
    create_pg_database,
    drop_pg_database,
    kill_group,
    pg_available,
    spawn,
)

BACKENDS = [
    pytest.param(("file", "sqlite"), id="file-sqlite"),
    pytest.param(("s3", "sqlite"), id="s3-sqlite"),
    pytest.param(("file", "postgresql"), id="file-pg"),
    pytest.param(("s3", "postgresql"), id="s3-pg"),
]


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    return build_library(tmp_path_factory.mktemp("clips"))


@pytest.fixture
def processes():
    """Start child processes (``tests.servers.spawn``) that never outlive the test.

    Each one's whole process group is killed at teardown, whatever the test did; and the kernel
    kills them if the test process itself dies.
    """
    started = []

    def start(args, **kwargs):
        proc = spawn(args, **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        kill_group(proc)


@pytest.fixture(scope="session")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_database():
    why = pg_available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable under CI ({PG_ADMIN_URL}): {why}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({why}); PostgreSQL tests skipped")
    name, url = create_pg_database()
    yield url
    drop_pg_database(name)


@pytest.fixture
def pg_url(pg_database) -> str:
    """The scratch database, emptied for this test."""
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return pg_database


@pytest.fixture
def make_settings(tmp_path):
    """Settings rooted in this test's folder, with short settle and rescan windows."""

    def make(**overrides):
        base = dict(
            home=tmp_path / "home",
            station_id="ST01",
            timezone="Asia/Shanghai",
            settle_seconds=0.3,
            rescan_seconds=1.0,
            tool_timeout_seconds=120,
        )
        base.update(overrides)
        return load_settings(**base)

    return make


@pytest.fixture(params=BACKENDS)
def backend(request) -> dict[str, str]:
    """Storage and database URLs for one of the four backend combinations."""
    store, db = request.param
    urls = {}
    if store == "s3":
        urls["storage_url"] = request.getfixturevalue("moto").url()
    if db == "postgresql":
        urls["database_url"] = request.getfixturevalue("pg_url")
    return urls


@pytest.fixture
def settings(make_settings, backend):
    return make_settings(**backend)


@pytest.fixture
def rt(settings):
    runtime = open_runtime(settings, "test")
    yield runtime
    runtime.close()


@pytest.fixture
def upload(settings) -> Path:
    point = settings.points[0].path
    point.mkdir(parents=True, exist_ok=True)
    return point
