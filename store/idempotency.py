"""Idempotency-Keys of actions: a caller's key must come back with the same action and body."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.orm import Session

from store.common import canonical, insert_unless_taken, utcnow
from store.errors import ActionKeyConflict
from store.models import ActionRequestRow


def action_body_hash(action: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({"action": action, "payload": payload}).encode()).hexdigest()


def remember_action_key(
    session: Session, scope: str, key: str, case_id: str, action: str, payload: dict[str, Any]
) -> bool:
    """Record a caller's Idempotency-Key for an action; True when it is new, False for a repeat.

    A repeat must name the same case, action and body: otherwise ActionKeyConflict (the API's 409).
    Keys are scoped per caller, so another caller's key never replays somebody else's action.
    """
    digest = action_body_hash(action, payload)
    # The usual case is a new key: one INSERT ... ON CONFLICT DO NOTHING, no read first. On a conflict
    # (a repeat, or the same key at the same moment: PostgreSQL waits for that writer) the stored
    # request is read and compared.
    made = ActionRequestRow(
        scope=scope, key=key, case_id=case_id, action=action, request_hash=digest, created_at=utcnow()
    )
    if insert_unless_taken(session, made):
        return True
    row = session.get(ActionRequestRow, (scope, key), populate_existing=True)
    assert row is not None  # taken: a key is never deleted while its case can be acted on
    if row.case_id != case_id or row.action != action:
        raise ActionKeyConflict(
            f"this Idempotency-Key was used for {row.action} on case {row.case_id}", row.case_id
        )
    if row.request_hash != digest:
        raise ActionKeyConflict("this Idempotency-Key was used with a different request body", row.case_id)
    return False
