"""Issue 16: the daily and weekly reports (seed 003), built by Temporal Schedules and stored once per
day or ISO week.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A report's message to the supervisors belongs to no case.
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("case_id", existing_type=sa.String(40), nullable=True)
    op.create_table(
        "scheduled_reports",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(10), primary_key=True),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("built_at", UtcDateTime(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduled_reports")
    op.execute("DELETE FROM outbox WHERE case_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("case_id", existing_type=sa.String(40), nullable=False)
