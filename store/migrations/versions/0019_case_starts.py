"""Issue 14: durable case starts. `POST /v1/cases` answers once the case is stored; the row written
beside it here says that its workflow may not have started yet, until the workflow's first store write
deletes it. A worker's start relay starts the workflows of rows left behind (the API died between its
commit and the start, or Temporal was down).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_starts",
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("start", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_case_starts_next_attempt_at", "case_starts", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_case_starts_next_attempt_at", table_name="case_starts")
    op.drop_table("case_starts")
