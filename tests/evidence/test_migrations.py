"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from evidence.models import Base


def test_migrated_schema_matches_the_models(any_sessions):
    with any_sessions.kw["bind"].connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []


def test_roles_starting_together_on_an_empty_postgresql_migrate_it_once(pg_database):
    """Stations, workers and API replicas migrate at start: on one new database, at the same moment."""
    import threading

    from sqlalchemy import text

    from evidence.adapters.database import make_engine, migrate
    from tests.servers import create_pg_database, drop_pg_database

    name, url = create_pg_database(prefix="evidence_race")
    engines = [make_engine(url) for _ in range(4)]
    errors: list[BaseException] = []
    go = threading.Barrier(len(engines))

    def start(engine):
        go.wait()
        try:
            migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        with engines[0].connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        for e in engines:
            e.dispose()
        drop_pg_database(name)
