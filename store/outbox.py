"""The transactional outbox: notifications written with a case's store write, delivered by a relay.

A message is `pending` until a relay delivers it (`delivered`) or gives up on it (`dead`). Relays
claim due messages in a short transaction that sets a lease (`claimed_until`) and deliver them after
it commits; PostgreSQL's `FOR UPDATE SKIP LOCKED` lets several relays claim at once without waiting
for or taking each other's messages (SQLite has one writer at a time, so claims simply take turns).
A relay that dies holding a lease leaves the message pending: another claims it when the lease ends.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, or_, select, update
from sqlalchemy.orm import Session

from domain.models import OutboxMessage
from store.common import insert_ignoring
from store.models import OutboxRow

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
MAX_ERROR = 500  # characters of a delivery error kept in last_error


@dataclass(frozen=True)
class Claimed:
    """A claimed message, detached from its session (the relay sends it after the claim commits)."""

    id: int
    idempotency_key: str
    case_id: str | None  # None: a message of no case (a report)
    recipient_role: str
    template: str
    message: str
    attempts: int
    created_at: datetime
    message_id: str | None = None  # a conversation message (its text is in `messages`, sealed)


@dataclass(frozen=True)
class PendingSummary:
    count: int
    oldest_created_at: datetime | None


def add_messages(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> int:
    """Queue messages, each once per idempotency key (a retried store write adds nothing);
    returns how many were new. Due at once.

    One `INSERT ... ON CONFLICT DO NOTHING RETURNING` for the batch: a key stored already (or
    inserted meanwhile by a concurrent writer, waited for on PostgreSQL) is skipped, and the
    transaction stays usable, with no query first and no savepoint per message."""
    rows = [_new_values(m, now) for m in dict((m.idempotency_key, m) for m in messages).values()]
    if not rows:
        return 0
    return len(session.execute(_insert_new(session.get_bind().dialect.name), rows).all())


@functools.cache
def _insert_new(dialect: str) -> Any:
    """The one statement object per dialect (built once, so it keeps its cache key)."""
    table = cast(Table, OutboxRow.__table__)
    return insert_ignoring(dialect, table).returning(table.c.idempotency_key)


def _new_values(message: OutboxMessage, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": message.idempotency_key,
        "case_id": message.case_id,
        "recipient_role": message.recipient_role,
        "template": message.template,
        "message": message.message,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _due(now: datetime) -> ColumnElement[bool]:
    return (
        (OutboxRow.status == PENDING)
        & (OutboxRow.next_attempt_at <= now)
        & or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now)
    )


def any_due(session: Session, now: datetime) -> bool:
    """Whether a message is due and not leased: a read, so an idle relay never takes a write lock."""
    return session.scalar(select(OutboxRow.id).where(_due(now)).limit(1)) is not None


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Lease up to `limit` pending messages that are due and not leased, oldest due first.

    Rows another transaction is claiming right now are skipped, not waited for (PostgreSQL); the
    lease keeps them from other relays once this transaction commits.
    """
    rows = session.scalars(
        select(OutboxRow)
        .where(_due(now))
        .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.claimed_until = now + lease
    session.flush()
    return [
        Claimed(
            id=row.id,
            idempotency_key=row.idempotency_key,
            case_id=row.case_id,
            recipient_role=row.recipient_role,
            template=row.template,
            message=row.message,
            attempts=row.attempts,
            created_at=row.created_at,
            message_id=row.message_id,
        )
        for row in rows
    ]


def mark_delivered(session: Session, message_ids: list[int], now: datetime) -> None:
    """Delivered is final, also for a message another relay had meanwhile given up on."""
    if not message_ids:
        return
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(message_ids))
        .values(status=DELIVERED, delivered_at=now, claimed_until=None)
    )


def mark_failed(session: Session, message_id: int, error: str, retry_at: datetime, dead: bool) -> None:
    """Count a failed attempt; the message is due again at `retry_at`, or `dead` (never again)."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == message_id, OutboxRow.status == PENDING)
        .values(
            attempts=OutboxRow.attempts + 1,
            last_error=error[:MAX_ERROR],
            next_attempt_at=retry_at,
            claimed_until=None,
            status=DEAD if dead else PENDING,
        )
    )


def pending_summary(session: Session) -> PendingSummary:
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.status == PENDING)
    ).one()
    return PendingSummary(int(count or 0), oldest)


def messages_of(session: Session, case_id: str) -> list[OutboxRow]:
    """A case's messages in the order they were queued (tests and ops)."""
    return list(session.scalars(select(OutboxRow).where(OutboxRow.case_id == case_id).order_by(OutboxRow.id)))
