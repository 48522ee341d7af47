"""Platform-wide calendar overrides have merchant_id NULL instead of "", and stay unique per date.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PLATFORM_ONLY = sa.text("merchant_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("calendar_overrides") as batch:
        batch.alter_column("merchant_id", existing_type=sa.String(64), nullable=True)
    op.execute("UPDATE calendar_overrides SET merchant_id = NULL WHERE merchant_id = ''")
    op.create_index(
        "uq_calendar_override_platform",
        "calendar_overrides",
        ["calendar", "date"],
        unique=True,
        postgresql_where=PLATFORM_ONLY,
        sqlite_where=PLATFORM_ONLY,
    )


def downgrade() -> None:
    op.drop_index("uq_calendar_override_platform", table_name="calendar_overrides")
    op.execute("UPDATE calendar_overrides SET merchant_id = '' WHERE merchant_id IS NULL")
    with op.batch_alter_table("calendar_overrides") as batch:
        batch.alter_column("merchant_id", existing_type=sa.String(64), nullable=False)
