"""Alembic environment: migrations run on the connection handed in by evidence.adapters.database.migrate."""

from alembic import context

from evidence.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through evidence.adapters.database.migrate()")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
