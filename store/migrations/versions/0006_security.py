"""Security audit items 12–14: codec sign-ins and the decode audit, API key permissions, the data
keys of personal data at rest, and the keyed phone hash.

`case_data_keys` holds each case's data key wrapped by a codec key (envelope encryption); personal
fields written from now on are sealed with it, rows written before stay readable as they are.
`cases.contact_phone_hash` finds cases by phone. `api_keys.permissions` grants e.g. decode_personal.
`codec_sessions` are the Temporal UI's codec sign-ins; `codec_decodes` records every codec decode.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("contact_phone_hash", sa.String(64), nullable=True))
    op.create_index("ix_cases_contact_phone_hash", "cases", ["contact_phone_hash"])
    op.create_table(
        "case_data_keys",
        sa.Column(
            "case_id", sa.String(40), sa.ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("wrapped_key", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_case_data_keys_key_id", "case_data_keys", ["key_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("permissions", sa.String(200), nullable=True))
    op.create_table(
        "codec_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "key_id", sa.String(40), sa.ForeignKey("api_keys.key_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "codec_decodes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("namespace", sa.String(100), nullable=True),
        sa.Column("workflow_ids", sa.JSON, nullable=False),
        sa.Column("payloads", sa.Integer, nullable=False),
        sa.Column("personal_revealed", sa.Boolean, nullable=False),
    )
    op.create_index("ix_codec_decodes_at", "codec_decodes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_codec_decodes_at", table_name="codec_decodes")
    op.drop_table("codec_decodes")
    op.drop_table("codec_sessions")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("permissions")
    op.drop_index("ix_case_data_keys_key_id", table_name="case_data_keys")
    op.drop_table("case_data_keys")
    op.drop_index("ix_cases_contact_phone_hash", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("contact_phone_hash")
