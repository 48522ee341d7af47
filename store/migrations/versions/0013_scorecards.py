"""Issue 16: agent scorecards (seed 003). The points rules are a versioned table (version 1 seeded
from seed 003; later versions are added whole, past ones never change), and supervisors' entries for
what the system cannot observe, reversible and kept with who, when and why.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from domain.scorecard import SEED_003_RULES
from store.models import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rules = op.create_table(
        "scorecard_rules",
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("points", sa.Numeric(6, 2), nullable=False),
        sa.Column("observed", sa.Boolean(), nullable=False),
        sa.Column("doubles_after", sa.Integer(), nullable=True),
        sa.Column("effective_from", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    since = datetime(2000, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        rules,
        [
            {"version": 1, "code": r.code, "label": r.label, "points": r.points, "observed": r.observed,
             "doubles_after": r.doubles_after, "effective_from": since, "created_by": "seed 003"}
            for r in SEED_003_RULES
        ],
    )  # fmt: skip
    op.create_table(
        "scorecard_entries",
        sa.Column("entry_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("entered_by", sa.String(200), nullable=False),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
        sa.Column("reversed_by", sa.String(200), nullable=True),
        sa.Column("reversed_at", UtcDateTime(), nullable=True),
        sa.Column("reversal_reason", sa.String(500), nullable=True),
    )
    op.create_index("ix_scorecard_entries_month_person", "scorecard_entries", ["month", "person_id"])


def downgrade() -> None:
    op.drop_index("ix_scorecard_entries_month_person", table_name="scorecard_entries")
    op.drop_table("scorecard_entries")
    op.drop_table("scorecard_rules")
