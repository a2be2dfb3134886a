"""Auditing the upload deadline and keeping footage by the retention rules.

Excuses for lateness, officers' duty periods (shifts), legal holds; on items the retention class,
keep-until date and reason, and when an item expired or was purged; on cases when they were closed.
``items.recorded_end`` is indexed so that a report for one period reads only that period's rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "excuses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=True),
        sa.Column("officer_id", sa.String(64), nullable=True),
        sa.Column("device_serial", sa.String(64), nullable=True),
        sa.Column("window_from", sa.DateTime(), nullable=True),
        sa.Column("window_to", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=False),
        sa.Column("approved_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
    )
    for column in ("item_id", "officer_id", "device_serial"):
        op.create_index(f"ix_excuses_{column}", "excuses", [column])
    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("officer_id", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("officer_id", "starts_at", name="uq_shift_start"),
    )
    op.create_index("ix_shifts_officer_id", "shifts", ["officer_id"])
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(64), nullable=False),
        sa.Column("placed_at", sa.DateTime(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("released_by", sa.String(64), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_holds_item_id", "holds", ["item_id"])
    op.create_index("ix_holds_case_id", "holds", ["case_id"])
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("retention_class", sa.String(16), nullable=True))
        batch.add_column(sa.Column("keep_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("retention_because", sa.Text(), nullable=True))
        batch.add_column(sa.Column("expired_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_items_recorded_end", ["recorded_end"])
        batch.create_index("ix_items_retention_class", ["retention_class"])
        batch.create_index("ix_items_keep_until", ["keep_until"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("closed_at")
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_keep_until")
        batch.drop_index("ix_items_retention_class")
        batch.drop_index("ix_items_recorded_end")
        for column in ("purged_at", "expired_at", "retention_because", "keep_until", "retention_class"):
            batch.drop_column(column)
    op.drop_table("holds")
    op.drop_table("shifts")
    op.drop_table("excuses")
