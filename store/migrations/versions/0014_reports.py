"""Issue 16: the facts the reports read. One `report_cases` row per case (its dimensions, and its
measures once it closes, written by the store projection) and `report_case_items` (the limits each
closed case ran and its automatic decisions); messages get an index on the day they count on.

Cases stored before this revision get their facts from `python -m store.report_facts rebuild`
(docs/KPIS.md): the migration does not read the ORM models of later revisions.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_cases",
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("issue_type", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(32), nullable=True),
        sa.Column("aht_seconds", sa.Integer(), nullable=True),
        sa.Column("platform_limits", sa.Integer(), nullable=False),
        sa.Column("platform_breaches", sa.Integer(), nullable=False),
        sa.Column("merchant_limits", sa.Integer(), nullable=False),
        sa.Column("merchant_breaches", sa.Integer(), nullable=False),
        sa.Column("appealed", sa.Boolean(), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("second_remedy", sa.Boolean(), nullable=False),
        sa.Column("survey_sent", sa.Boolean(), nullable=False),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("refund_seconds", sa.Integer(), nullable=True),
        sa.Column("dispute_outcome", sa.String(40), nullable=True),
    )
    op.create_index("ix_report_cases_closed_on", "report_cases", ["closed_on", "merchant_id"])
    op.create_index("ix_report_cases_merchant_closed_on", "report_cases", ["merchant_id", "closed_on"])
    op.create_table(
        "report_case_items",
        sa.Column(
            "case_id",
            sa.String(40),
            sa.ForeignKey("report_cases.case_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("party", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
    )
    op.create_index("ix_report_case_items_closed_on", "report_case_items", ["closed_on"])
    op.create_index("ix_messages_counts_on", "messages", ["counts_on", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_counts_on", table_name="messages")
    op.drop_index("ix_report_case_items_closed_on", table_name="report_case_items")
    op.drop_table("report_case_items")
    op.drop_index("ix_report_cases_merchant_closed_on", table_name="report_cases")
    op.drop_index("ix_report_cases_closed_on", table_name="report_cases")
    op.drop_table("report_cases")
