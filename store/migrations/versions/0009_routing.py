"""Issue 15 (routing): the routing table and its change history; cases get their queue, the reason
of their priority and their earliest due time (queues sort by it), indexed for the queue listings
and for counting a customer's recent cases.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from store.models import Money, UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
    )
    op.create_table(
        "routing_rules",
        sa.Column(
            "generation",
            sa.Integer,
            sa.ForeignKey("routing_changes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("queue", sa.String(40), nullable=False),
        sa.Column("name", sa.String(120), nullable=True),
        *(
            sa.Column(field, sa.JSON, nullable=True)
            for field in ("issue_types", "reasons", "categories", "merchant_ids", "channels", "priorities")
        ),
        sa.Column("min_amount", Money, nullable=True),
        sa.Column("max_amount", Money, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
    )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("queue", sa.String(40), nullable=False, server_default="general"))
        batch.add_column(sa.Column("priority_reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("due_at", UtcDateTime(), nullable=True))
    op.create_index("ix_cases_queue_status", "cases", ["queue", "status"])
    op.create_index("ix_cases_customer_created", "cases", ["customer_id", "created_at"])
    _fill_due_at()


def _fill_due_at() -> None:
    """Open cases get their earliest deadline as due_at (closed ones have none left to sort by)."""
    cases = sa.table(
        "cases",
        sa.column("case_id", sa.String),
        sa.column("status", sa.String),
        sa.column("deadlines", sa.JSON),
        sa.column("due_at", UtcDateTime()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(cases.c.case_id, cases.c.deadlines).where(cases.c.status != "closed"))
    for case_id, deadlines in list(rows):
        due = [datetime.fromisoformat(value) for value in (deadlines or {}).values()]
        if due:
            bind.execute(cases.update().where(cases.c.case_id == case_id).values(due_at=min(due)))


def downgrade() -> None:
    op.drop_index("ix_cases_customer_created", table_name="cases")
    op.drop_index("ix_cases_queue_status", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("due_at")
        batch.drop_column("priority_reason")
        batch.drop_column("queue")
    op.drop_table("routing_rules")
    op.drop_table("routing_changes")
