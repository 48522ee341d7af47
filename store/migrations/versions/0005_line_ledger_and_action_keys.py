"""The refund ceiling per order line across cases, and idempotency records of actions.

`order_lines` holds, per order line, what was paid and what all its cases have reserved or paid
back; a refund reservation locks the rows of its lines, so concurrent cases of one line take turns.
`refund_lines` says how each refund decision was split over the lines of its case.
`action_requests` remembers each caller's Idempotency-Key of an action (which action, which body).
`cases.idempotency_key` grows to hold the caller's scope before the key (keys belong to their caller).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("idempotency_key", type_=sa.String(240), existing_type=sa.String(200))
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("line_id", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("refunded_amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "refund_lines",
        sa.Column("case_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("line_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.ForeignKeyConstraint(["case_id", "seq"], ["refunds.case_id", "refunds.seq"], ondelete="CASCADE"),
    )
    op.create_table(
        "action_requests",
        sa.Column("scope", sa.String(120), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("action_requests")
    op.drop_table("refund_lines")
    op.drop_table("order_lines")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("idempotency_key", type_=sa.String(200), existing_type=sa.String(240))
