"""Cases carry the order's region (a freeze can select by it); calendars get stored working hours;
freezes in force are stored, so cases opened during one start frozen.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PLATFORM_ONLY = sa.text("merchant_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("region", sa.String(64), nullable=True))
    op.create_index("ix_cases_region_status", "cases", ["region", "status"])
    op.create_table(
        "calendar_hours",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("calendar", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=True),
        sa.Column("weekly", sa.JSON, nullable=False),
        sa.Column("workday_periods", sa.JSON, nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("calendar", "merchant_id", name="uq_calendar_hours"),
    )
    op.create_index(
        "uq_calendar_hours_platform",
        "calendar_hours",
        ["calendar"],
        unique=True,
        postgresql_where=PLATFORM_ONLY,
        sqlite_where=PLATFORM_ONLY,
    )

    op.create_table(
        "freezes",
        sa.Column("scope", sa.String(140), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=True),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("started_by", sa.String(120), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("freezes")
    op.drop_index("uq_calendar_hours_platform", table_name="calendar_hours")
    op.drop_table("calendar_hours")
    op.drop_index("ix_cases_region_status", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("region")
