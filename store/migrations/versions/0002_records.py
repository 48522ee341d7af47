"""Approvals, surveys, notes, SLA breaches and evidence references as their own tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _case_fk() -> sa.Column[str]:
    return sa.Column(
        "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "approvals",
        _case_fk(),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "surveys",
        _case_fk(),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("csat", sa.Integer(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "case_notes",
        _case_fk(),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "sla_breaches",
        _case_fk(),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("step", sa.String(40), nullable=False),
        sa.Column("step_limit", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "evidence_refs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("evidence_refs", "sla_breaches", "case_notes", "surveys", "approvals"):
        op.drop_table(table)
