"""Issue 19: versioned policies per platform, merchant and category; approval delegations; carrier
tracking events and the tracking numbers that find a case.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(140), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", UtcDateTime(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("scope", "version", name="uq_policy_versions_scope_version"),
    )
    op.create_index("ix_policy_versions_scope_effective", "policy_versions", ["scope", "effective_from"])
    op.create_table(
        "approval_delegations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delegator_id", sa.String(64), nullable=False),
        sa.Column("delegator_role", sa.String(16), nullable=False),
        sa.Column("delegate_id", sa.String(64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_approval_delegations_delegate", "approval_delegations", ["delegate_id", "starts_on"])
    op.create_table(
        "case_tracking",
        sa.Column("tracking_no", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(40), primary_key=True),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "carrier_events",
        sa.Column("carrier", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("tracking_no", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
    )
    op.create_index("ix_carrier_events_tracking", "carrier_events", ["tracking_no"])


def downgrade() -> None:
    op.drop_table("carrier_events")
    op.drop_table("case_tracking")
    op.drop_table("approval_delegations")
    op.drop_table("policy_versions")
