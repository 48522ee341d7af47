"""Issue 15: people. Agents, supervisors, dispute-team members and ops are people with skills (the
queues they work) and a presence; an API key may belong to a person, and then acts as that person.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(40), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("skills", sa.String(2000), nullable=False),
        sa.Column("presence", sa.String(8), nullable=False),
        sa.Column("presence_changed_at", UtcDateTime(), nullable=True),
        sa.Column("last_seen_at", UtcDateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("deactivated_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_people_role_active", "people", ["role", "active"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("person_id", sa.String(40), nullable=True))
        batch.create_foreign_key("fk_api_keys_person", "people", ["person_id"], ["person_id"])
        batch.create_index("ix_api_keys_person_id", ["person_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_person_id")
        batch.drop_constraint("fk_api_keys_person", type_="foreignkey")
        batch.drop_column("person_id")
    op.drop_index("ix_people_role_active", table_name="people")
    op.drop_table("people")
