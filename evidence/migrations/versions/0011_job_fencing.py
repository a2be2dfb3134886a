"""Job fencing: a lease token per claim, a priority, and an index to claim in priority order.

- ``jobs.lease_token``: a fresh random token written by each claim; completing, retrying, failing
  or releasing a job checks it (and ``state = 'running'``) in the same transaction, so a worker
  whose lease was taken over cannot write a result (evidence/jobs.py ``fence``).
- ``jobs.priority``: smaller runs first (clip and export before probe/proxy before fixity/sweep);
  existing rows get their kind's priority.
- ``jobs.heartbeat_at``: when the owner last renewed its lease (for operators and the API).
- ``ix_jobs_claim``: (state, priority, run_after) for the claim query.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(32), nullable=True))
        batch.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="50"))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_jobs_claim", ["state", "priority", "run_after"])
    op.execute("UPDATE jobs SET priority = 10 WHERE kind IN ('clip', 'export')")
    op.execute("UPDATE jobs SET priority = 20 WHERE kind IN ('probe', 'proxy', 'poster')")
    op.execute("UPDATE jobs SET priority = 30 WHERE kind = 'fixity'")
    op.execute("UPDATE jobs SET priority = 40 WHERE kind = 'sweep'")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_claim")
        batch.drop_column("heartbeat_at")
        batch.drop_column("priority")
        batch.drop_column("lease_token")
