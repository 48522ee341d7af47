"""API keys: only a hash is stored; revoked keys no longer authenticate."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store import keys
from store.models import ApiKeyRow


def test_api_keys_are_found_by_plaintext_and_stored_hashed(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        key_id, plaintext = keys.create_api_key(session, "merchant", "M-100", "shop front")
    assert plaintext.startswith("ask_") and len(plaintext) > 40
    with db() as session:
        row = keys.find_api_key(session, plaintext)
        assert row is not None
        assert (row.key_id, row.role, row.merchant_id, row.label) == (
            key_id,
            "merchant",
            "M-100",
            "shop front",
        )
        assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        stored = session.scalars(select(ApiKeyRow.key_hash)).all()
        assert plaintext not in stored
        assert keys.find_api_key(session, plaintext + "x") is None


def test_revoked_keys_are_ignored(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        key_id, plaintext = keys.create_api_key(session, "agent")
        _, other = keys.create_api_key(session, "agent")
    with db.begin() as session:
        assert keys.revoke_api_key(session, key_id) is True
    with db.begin() as session:
        assert keys.revoke_api_key(session, key_id) is False
        assert keys.revoke_api_key(session, "key_unknown") is False
    with db() as session:
        assert keys.find_api_key(session, plaintext) is None
        assert keys.find_api_key(session, other) is not None
        row = session.get(ApiKeyRow, key_id)
        assert row is not None and row.revoked_at is not None and row.revoked_at.tzinfo is not None
