"""Issue 16: the next-working-day callback (seed 003) is a task: for the agent who holds the case
when it is scheduled, due at the start of the next service-desk day, with an outcome once done; an
unreachable customer is called again the next desk day (another attempt), at most N times.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("assignee", sa.String(40), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("done_by", sa.String(200), nullable=True),
        sa.Column("done_at", UtcDateTime(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_callbacks_assignee_status", "callbacks", ["assignee", "status", "due_at"])
    op.create_index("ix_callbacks_status_due", "callbacks", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_status_due", table_name="callbacks")
    op.drop_index("ix_callbacks_assignee_status", table_name="callbacks")
    op.drop_table("callbacks")
