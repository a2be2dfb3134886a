"""An index of the receipts whose source release is still to be recorded.

The station looks for them at every rescan (not only at its start): a source deleted under
``EVIDENCE_SOURCE_POLICY=delete`` whose release record a database outage cut short cannot be put
back for a retry, so its record is finished by that look. Partial: only those few rows.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UNRELEASED = sa.text("source_released_at IS NULL AND outcome != 'rejected'")


def upgrade() -> None:
    op.create_index(
        "ix_receipts_unreleased", "receipts", ["upload_point"], sqlite_where=UNRELEASED, postgresql_where=UNRELEASED
    )


def downgrade() -> None:
    op.drop_index("ix_receipts_unreleased", table_name="receipts")
