"""Exact name bytes for names that are not UTF-8; the list of skipped files.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("source_path_bytes", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("rel_path_bytes", sa.LargeBinary(), nullable=True))
    op.create_table(
        "skipped_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("upload_point", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("path_bytes", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("skipped_files")
    with op.batch_alter_table("receipts") as batch:
        batch.drop_column("rel_path_bytes")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("source_path_bytes")
