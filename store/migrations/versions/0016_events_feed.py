"""Issue 18: the event feed and signed webhooks (DESIGN §11).

`case_events.txid` orders the feed: on PostgreSQL the writing transaction's id (pg_current_xact_id),
so a reader can hold back what transactions still in flight may yet commit; rows written before the
feed existed get 0 (they are all committed). Webhook subscriptions, their delivery lanes (one per
subscription and case, sent in order), deliveries, attempts and an audit of changes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

DUE_ONLY = sa.text("next_attempt_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("txid", sa.BigInteger, nullable=False, server_default=sa.text("0")))
    op.create_index("ix_case_events_feed", "case_events", ["txid", "id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("event_kinds", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("secret_key_id", sa.String(64), nullable=False),
        sa.Column("secret_wrapped", sa.Text, nullable=False),
        sa.Column("previous_key_id", sa.String(64), nullable=True),
        sa.Column("previous_wrapped", sa.Text, nullable=True),
        sa.Column("previous_until", UtcDateTime(), nullable=True),
        sa.Column("cursor_txid", sa.BigInteger, nullable=False),
        sa.Column("cursor_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "webhook_lanes",
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("case_id", sa.String(40), primary_key=True),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_webhook_lanes_due",
        "webhook_lanes",
        ["next_attempt_at"],
        postgresql_where=DUE_ONLY,
        sqlite_where=DUE_ONLY,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column(
            "event_id", sa.Integer, sa.ForeignKey("case_events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_webhook_deliveries_lane", "webhook_deliveries", ["subscription_id", "case_id", "id"])
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "subscription_id",
            sa.String(40),
            sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("delivery_id", sa.Integer, nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("response_excerpt", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("cursor", sa.String(80), nullable=False),
    )
    op.create_index("ix_webhook_attempts_subscription", "webhook_attempts", ["subscription_id", "id"])
    op.create_table(
        "webhook_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_webhook_changes_subscription_id", "webhook_changes", ["subscription_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_changes_subscription_id", table_name="webhook_changes")
    op.drop_table("webhook_changes")
    op.drop_index("ix_webhook_attempts_subscription", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_event", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_lane", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_lanes_due", table_name="webhook_lanes")
    op.drop_table("webhook_lanes")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_case_events_feed", table_name="case_events")
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("txid")
