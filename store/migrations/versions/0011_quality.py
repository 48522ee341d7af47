"""Issue 16: quality review (复核). The checklist is a table (editable, seeded with default items), and
each closed case chosen for review has one review row: why it was chosen, whose case it was, and the
supervisor's scores once given.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DEFAULT_ITEMS = [
    ("understood", "Understood and classified the customer's problem correctly", 20),
    ("policy_applied", "Applied the platform's rules and the product's terms correctly", 25),
    ("solution_explained", "Explained the solution, its steps and its timing to the customer", 20),
    ("timely", "Answered and acted within the limits", 15),
    ("tone", "Courteous, patient and clear wording", 10),
    ("closed_loop", "Confirmed the result with the customer (closed loop)", 10),
]


def upgrade() -> None:
    items = op.create_table(
        "quality_checklist_items",
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("max_points", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        items,
        [
            {
                "item_id": i,
                "label": label,
                "max_points": points,
                "position": n,
                "active": True,
                "changed_at": now,
                "changed_by": "migration 0011",
            }
            for n, (i, label, points) in enumerate(DEFAULT_ITEMS)
        ],
    )
    op.create_table(
        "quality_reviews",
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("selected_at", UtcDateTime(), nullable=False),
        sa.Column("reasons", sa.String(100), nullable=False),
        sa.Column("agent", sa.String(40), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=True),
        sa.Column("reviewed_at", UtcDateTime(), nullable=True),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("max_total", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
    )
    op.create_index("ix_quality_reviews_status", "quality_reviews", ["status", "selected_at", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_quality_reviews_status", table_name="quality_reviews")
    op.drop_table("quality_reviews")
    op.drop_table("quality_checklist_items")
