"""Users, bearer tokens, and the unit of each item and device assignment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("officer_id", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index(op.f("ix_users_unit"), "users", ["unit"], unique=False)
    op.create_index(op.f("ix_users_officer_id"), "users", ["officer_id"], unique=False)
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"], unique=False)
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("unit", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_items_unit"), ["unit"], unique=False)
    with op.batch_alter_table("device_assignments") as batch:
        batch.add_column(sa.Column("unit", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_assignments") as batch:
        batch.drop_column("unit")
    with op.batch_alter_table("items") as batch:
        batch.drop_index(batch.f("ix_items_unit"))
        batch.drop_column("unit")
    op.drop_index(op.f("ix_tokens_user_id"), table_name="tokens")
    op.drop_table("tokens")
    op.drop_index(op.f("ix_users_officer_id"), table_name="users")
    op.drop_index(op.f("ix_users_unit"), table_name="users")
    op.drop_table("users")
