"""A migrated database for domain tests: SQLite, or PostgreSQL where a test asks for both."""

from __future__ import annotations

import pytest

from evidence.adapters.database import make_engine, make_sessionmaker, migrate


def _sessions(url: str):
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sessions(tmp_path):
    """Sessions on a fresh SQLite database."""
    yield from _sessions(f"sqlite:///{tmp_path / 'e.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_sessions(request, tmp_path):
    """Sessions on a fresh SQLite database, then on a fresh PostgreSQL one."""
    url = f"sqlite:///{tmp_path / 'e.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    yield from _sessions(url)
