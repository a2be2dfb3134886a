"""Proof: the custody log as a Merkle tree with signed checkpoints, write-once originals, fixity, exports.

- ``custody_events.format`` (1: written before this revision, its leaf derived from the hash-chain
  fields; 2: the leaf is the RFC 8785 form of the event) and ``recorded_at`` (commit time; the
  older ``occurred_at`` is when the step happened). Format-1 rows get ``recorded_at = occurred_at``.
- ``custody_nodes``: every complete subtree hash of the log at level 1 and up, so that an inclusion
  proof is a handful of index seeks (evidence/custody_tree.py).
- ``custody_checkpoints``: the signed checkpoints (C2SP signed notes) and where their copy is stored.
- ``items.fixity_alarm`` / ``fixity_checked_at``: the last fixity check and whether it failed.
- ``items.lock_until`` / ``lock_state``: the object-lock retention set on the stored original.
- ``exports``: case export packages, made by a worker job; ``jobs.item_id`` becomes optional
  (an export job belongs to a case).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("custody_events") as batch:
        batch.add_column(sa.Column("format", sa.SmallInteger(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("recorded_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE custody_events SET recorded_at = occurred_at")
    op.create_table(
        "custody_nodes",
        sa.Column("level", sa.SmallInteger(), primary_key=True),
        sa.Column("idx", sa.BigInteger(), primary_key=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "custody_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False, index=True),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("stored_key", sa.String(300), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("fixity_alarm", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("fixity_checked_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("lock_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("lock_state", sa.String(16), nullable=True))
        batch.create_index("ix_items_fixity_checked_at", ["fixity_checked_at"])
        batch.create_index("ix_items_fixity_alarm", ["fixity_alarm"])
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("item_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("with_proxies", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("exports")
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("item_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_fixity_alarm")
        batch.drop_index("ix_items_fixity_checked_at")
        batch.drop_column("lock_state")
        batch.drop_column("lock_until")
        batch.drop_column("fixity_checked_at")
        batch.drop_column("fixity_alarm")
    op.drop_table("custody_checkpoints")
    op.drop_table("custody_nodes")
    with op.batch_alter_table("custody_events") as batch:
        batch.drop_column("recorded_at")
        batch.drop_column("format")
