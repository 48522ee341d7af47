"""Issue 15: conversations, and an index for a person's open cases. Each case has a message thread
(customer, merchant, platform) with a visibility; outbound messages leave through the outbox (which
now names the message it carries), and each inbound customer message records its first-response
clock.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("message_id", sa.String(40), primary_key=True),
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("author_party", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=True),
        sa.Column("delivery_status", sa.String(12), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("delivery_error", sa.String(300), nullable=True),
        sa.Column("reply_due_at", UtcDateTime(), nullable=True),
        sa.Column("replied_at", UtcDateTime(), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("frt_breached_at", UtcDateTime(), nullable=True),
        sa.Column("counts_on", sa.Date(), nullable=True),
        sa.Column("night", sa.Boolean(), nullable=False),
        sa.Column("night_due_at", UtcDateTime(), nullable=True),
        sa.Column("night_violation_at", UtcDateTime(), nullable=True),
        sa.Column("responsible", sa.String(40), nullable=True),
    )
    op.create_index("ix_messages_case_at", "messages", ["case_id", "at"])
    # A person's open cases (GET /v1/me/cases, auto-assignment's load, the hand-back).
    op.create_index("ix_cases_assigned_status", "cases", ["assigned_to", "status"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message_id", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("message_id")
    op.drop_index("ix_cases_assigned_status", table_name="cases")
    op.drop_index("ix_messages_case_at", table_name="messages")
    op.drop_table("messages")
