"""Codec sign-ins (the credential the Temporal UI sends to /codec) and the record of every decode.

A codec session is a random token in an HttpOnly cookie; only its sha256 is stored. It belongs to the
API key that signed in, whose role and permissions it uses (read live): revoking the key ends it.
It can only encode and decode payloads (the API's /v1 routes never read it).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ApiKeyRow, CodecDecodeRow, CodecSessionRow

TOKEN_PREFIX = "acs_"  # "aftersales codec session": never an API key (those start with ask_)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def create_codec_session(session: Session, key_id: str, lifetime: timedelta) -> tuple[str, CodecSessionRow]:
    """A new codec session for an API key; returns (token, row). The token is shown only in the cookie."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    row = CodecSessionRow(token_hash=_digest(token), key_id=key_id, created_at=now, expires_at=now + lifetime)
    session.add(row)
    session.flush()
    return token, row


def find_codec_session(session: Session, token: str) -> tuple[CodecSessionRow, ApiKeyRow] | None:
    """The live session with this token and its (active) API key; None when unknown, ended or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = session.execute(
        select(CodecSessionRow, ApiKeyRow)
        .join(ApiKeyRow, ApiKeyRow.key_id == CodecSessionRow.key_id)
        .where(
            CodecSessionRow.token_hash == _digest(token),
            CodecSessionRow.ended_at.is_(None),
            CodecSessionRow.expires_at > _now(),
            ApiKeyRow.revoked_at.is_(None),
        )
    ).first()
    return (found[0], found[1]) if found else None


def end_codec_session(session: Session, token: str) -> bool:
    """Sign out; False when there was no live session with this token."""
    row = session.get(CodecSessionRow, _digest(token))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = _now()
    return True


def record_codec_decode(
    session: Session,
    *,
    actor: str,
    key_id: str,
    via: str,
    namespace: str | None,
    workflow_ids: list[str],
    payloads: int,
    personal_revealed: bool,
) -> CodecDecodeRow:
    row = CodecDecodeRow(
        at=_now(),
        actor=actor,
        key_id=key_id,
        via=via,
        namespace=namespace,
        workflow_ids=workflow_ids,
        payloads=payloads,
        personal_revealed=personal_revealed,
    )
    session.add(row)
    session.flush()
    return row


def list_codec_decodes(
    session: Session, workflow_id: str | None = None, limit: int = 100
) -> list[CodecDecodeRow]:
    """The latest decodes, newest first; with `workflow_id`, those that named that workflow."""
    query = select(CodecDecodeRow).order_by(CodecDecodeRow.at.desc(), CodecDecodeRow.id.desc())
    rows = session.scalars(query.execution_options(yield_per=500))
    found: list[CodecDecodeRow] = []
    for row in rows:  # workflow ids are a JSON list: filtered here, portable across both databases
        if workflow_id is None or workflow_id in (row.workflow_ids or []):
            found.append(row)
            if len(found) >= limit:
                break
    return found
