"""Issue 17: console sign-ins. A console session is a random token in an HttpOnly cookie; only its
sha256 is kept, with the API key that signed in (read live: revoking the key ends the session) and
when it was last used (a session idle longer than AFTERSALES_CONSOLE_IDLE_SECONDS has expired).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "key_id", sa.String(40), sa.ForeignKey("api_keys.key_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("console_sessions")
