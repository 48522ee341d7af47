"""Console sign-ins: a random token in an HttpOnly cookie, of which only the sha256 is stored.

The session belongs to the API key that signed in; its role, merchant and person are read live with
every request, so revoking the key ends the session. A session unused for longer than the idle limit
has expired, as has one older than its absolute limit; sign-out ends it at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ApiKeyRow, ConsoleSessionRow

TOKEN_PREFIX = "acw_"  # "aftersales console (web) session": never an API key (ask_) or codec session (acs_)
# Writing last_seen_at on every request of a page that polls each second would be a write a second:
# it is refreshed when older than this (so the idle limit holds to within it).
TOUCH_EVERY = timedelta(seconds=15)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its secret token, so only its own pages know it."""
    return hmac.new(token.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, given: str) -> bool:
    return hmac.compare_digest(csrf_token(token), given)


def create_console_session(session: Session, key_id: str, now: datetime | None = None) -> str:
    """A new console session for an API key; returns its token (shown only in the cookie)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    at = now or _now()
    session.add(ConsoleSessionRow(token_hash=_digest(token), key_id=key_id, created_at=at, last_seen_at=at))
    session.flush()
    return token


def find_console_session(
    session: Session,
    token: str,
    idle: timedelta,
    longest: timedelta,
    now: datetime | None = None,
    touch: bool = True,
) -> ApiKeyRow | None:
    """The (active) API key of a live session, marked used unless `touch` is False (a page polling by
    itself is no use of it); None when unknown, ended, idle too long, too old, or its key revoked."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    at = now or _now()
    found = session.execute(
        select(ConsoleSessionRow, ApiKeyRow)
        .join(ApiKeyRow, ApiKeyRow.key_id == ConsoleSessionRow.key_id)
        .where(
            ConsoleSessionRow.token_hash == _digest(token),
            ConsoleSessionRow.ended_at.is_(None),
            ConsoleSessionRow.last_seen_at > at - idle,
            ConsoleSessionRow.created_at > at - longest,
            ApiKeyRow.revoked_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    row, key = found[0], found[1]
    if touch and at - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = at
    return key


def end_console_session(session: Session, token: str) -> bool:
    """Sign out; False when there was no live session with this token."""
    row = session.get(ConsoleSessionRow, _digest(token))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = _now()
    return True
