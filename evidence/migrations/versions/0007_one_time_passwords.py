"""One-time passwords and the last sign-in of each user; unattributed footage is not on time.

Every password set before this revision was handed out by an administrator (there was no way for
a user to choose one), so every existing user is asked to choose their own at their next sign-in.
Originals already held with no recorder lose the on-time verdict they were given: nobody is known
to have been late or on time with them until they are attributed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("last_sign_in_at", sa.DateTime(), nullable=True))
    users = sa.table("users", sa.column("must_change_password", sa.Boolean()))
    op.execute(users.update().values(must_change_password=True))
    items = sa.table(
        "items",
        sa.column("device_serial", sa.String()),
        sa.column("derived_from", sa.Integer()),
        sa.column("on_time", sa.Boolean()),
        sa.column("late_by_s", sa.Float()),
    )
    op.execute(
        items.update()
        .where(items.c.device_serial.is_(None), items.c.derived_from.is_(None))
        .values(on_time=None, late_by_s=None)
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_sign_in_at")
        batch.drop_column("must_change_password")
