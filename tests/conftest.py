"""Shared fixtures: real clips, a real S3 server, real PostgreSQL, and runtimes over them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evidence.adapters.database import make_engine, migrate
from ingest.runtime import open_runtime
from tests import hygiene
from tests.media import build_library
from tests.servers import (
    PG_ADMIN_URL,
    MotoServer,
    create_pg_database,
    drop_pg_database,
    kill_group,
    pg_available,
    pg_databases_left,
    spawn,
    worker_tag,
)
from tests.settings import settings_for

BACKENDS = [
    pytest.param(("file", "sqlite"), id="file-sqlite"),
    pytest.param(("s3", "sqlite"), id="s3-sqlite"),
    pytest.param(("file", "postgresql"), id="file-pg"),
    pytest.param(("s3", "postgresql"), id="s3-pg"),
]


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    # Under the run's base folder, per xdist worker (each has its own base folder), so that the
    # leftover check below sees only what this process's tests made, and pytest's retention cleans up.
    hygiene.private_tmpdir(config._tmp_path_factory.getbasetemp() / "tmpdir")
    worker_tag()  # the run's id, in the environment before xdist starts its workers


@pytest.fixture(scope="session", autouse=True)
def no_leftovers():
    """Fail the run (an error at the last test's teardown) if a test left a process, port, temp folder or database.

    Torn down after every other session fixture (it is set up first), so servers the suite itself
    runs (moto) are already stopped; with xdist each worker checks its own.
    """
    yield
    hygiene.remove_scratch()
    problems = hygiene.leftovers(Path(os.environ["TMPDIR"]))
    if pg_available() is None:
        problems += [f"PostgreSQL database left: {name}" for name in pg_databases_left()]
    if problems:
        pytest.fail("the tests left these behind:\n" + "\n".join(problems), pytrace=False)


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


@pytest.fixture(scope="session")
def pg_template(pg_database) -> str:
    """The name of a migrated database, made once per session (per xdist worker) to be copied."""
    name, url = create_pg_database(prefix="evidence_tmpl")
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()  # a template must have no connections when it is copied
    yield name
    drop_pg_database(name)


@pytest.fixture
def pg_url(pg_template) -> str:
    """A migrated database of this test's own (a copy of the template: ~0.1 s against ~0.9 s to migrate)."""
    name, url = create_pg_database(template=pg_template)
    yield url
    drop_pg_database(name)


@pytest.fixture
def make_settings(tmp_path):
    """Settings rooted in this test's folder, with short settle and rescan windows."""

    def make(**overrides):
        return settings_for(**{"home": tmp_path / "home", **overrides})

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
