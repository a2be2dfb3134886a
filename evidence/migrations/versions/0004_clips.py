"""Evidence clips: items derived from another item, and job payloads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("derived_from", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("clip_start_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("clip_end_s", sa.Float(), nullable=True))
        batch.create_index(batch.f("ix_items_derived_from"), ["derived_from"], unique=False)
        batch.create_foreign_key("fk_items_derived_from", "items", ["derived_from"], ["id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("payload", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("payload")
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint("fk_items_derived_from", type_="foreignkey")
        batch.drop_index(batch.f("ix_items_derived_from"))
        batch.drop_column("clip_end_s")
        batch.drop_column("clip_start_s")
        batch.drop_column("derived_from")
