"""API keys: only a key's sha256 is stored, so a leaked table authenticates nobody."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.common import utcnow
from store.models import ApiKeyRow

# Permissions a key may hold beyond its role.
DECODE_PERSONAL = "decode_personal"  # the codec shows personal data in full (ops, supervisor, dispute)
PERMISSIONS = (DECODE_PERSONAL,)


def _key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_key(
    session: Session,
    role: str,
    merchant_id: str | None = None,
    label: str = "",
    permissions: Sequence[str] = (),
    person_id: str | None = None,
) -> tuple[str, str]:
    """A new key; only its hash is stored. Returns (key_id, plaintext) — show the plaintext once.
    A person's key acts as that person (give it the person's role)."""
    unknown = set(permissions) - set(PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(sorted(unknown))}")
    key_id = "key_" + secrets.token_hex(6)
    plaintext = "ask_" + secrets.token_urlsafe(32)
    session.add(
        ApiKeyRow(
            key_id=key_id,
            key_hash=_key_hash(plaintext),
            role=role,
            merchant_id=merchant_id,
            label=label,
            created_at=utcnow(),
            permissions=" ".join(sorted(set(permissions))) or None,
            person_id=person_id,
        )
    )
    session.flush()
    return key_id, plaintext


def permissions_of(row: ApiKeyRow) -> frozenset[str]:
    return frozenset((row.permissions or "").split())


def find_api_key(session: Session, plaintext: str) -> ApiKeyRow | None:
    """The active key with this plaintext; revoked keys authenticate nobody."""
    return session.scalar(
        select(ApiKeyRow).where(ApiKeyRow.key_hash == _key_hash(plaintext), ApiKeyRow.revoked_at.is_(None))
    )


def revoke_api_key(session: Session, key_id: str) -> bool:
    """Revoke a key (kept for the record); False when there is no active key with that id."""
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))
