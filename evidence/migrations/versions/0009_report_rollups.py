"""Fast auditors' reports on a city's volume.

- ``ix_items_device_received`` (device_serial, received_at) over originals (``derived_from IS NULL``)
  gives a recorder's last arrival by one index seek (evidence/overdue.py).
- ``report_rollup``: the deadline report's counts per station-local day, dimension, key and unit
  (evidence/report_rollup.py), with ``report_rollup_state`` (its time zone). Created empty: the
  reports read rows until ``evidence report rebuild`` fills it (the zone is a setting, unknown here).
- ``ix_items_late`` (late recordings) and ``ix_items_doubtful``: the rows a rollup cannot hold.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ORIGINALS = sa.text("derived_from IS NULL")
DOUBTFUL = sa.text(
    "(officer_id IS NULL OR time_source = 'file_mtime' OR recorded_end > received_at OR on_time IS NULL)"
)


def upgrade() -> None:
    op.create_index(
        "ix_items_device_received",
        "items",
        ["device_serial", "received_at"],
        sqlite_where=ORIGINALS,
        postgresql_where=ORIGINALS,
    )
    op.create_index(
        "ix_items_late",
        "items",
        [
            "recorded_end",
            "unit",
            "officer_id",
            "device_serial",
            "station_id",
            "late_by_s",
            "time_source",
            "received_at",
            "derived_from",
            "on_time",
        ],
        sqlite_where=sa.text("on_time = 0"),
        postgresql_where=sa.text("on_time = false"),
    )
    op.create_index("ix_items_doubtful", "items", ["recorded_end"], sqlite_where=DOUBTFUL, postgresql_where=DOUBTFUL)
    op.create_table(
        "report_rollup",
        sa.Column("dim", sa.String(8), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("recordings", sa.Integer(), nullable=False),
        sa.Column("doubtful", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
    )
    op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("built_at", sa.DateTime(), nullable=True),
    )
    # SQLite plans with the statistics ANALYZE gathers, and the new partial indexes have none yet
    # (without them it may read a month's rows through ix_items_recorded_end instead of ix_items_late)
    op.execute("ANALYZE items")


def downgrade() -> None:
    op.drop_table("report_rollup_state")
    op.drop_table("report_rollup")
    op.drop_index("ix_items_doubtful", table_name="items")
    op.drop_index("ix_items_late", table_name="items")
    op.drop_index("ix_items_device_received", table_name="items")
