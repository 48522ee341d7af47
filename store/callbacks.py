"""Callback tasks (seed 003 四; DESIGN §9): made from the case's `callback_scheduled` event (store/audit.py),
listed for the agent who holds them, completed once with an outcome; late when done after its day."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.calendar import DEFAULT_TIMEZONE
from store.models import CallbackRow

PENDING, DONE = "pending", "done"
OUTCOMES = ("solved", "not_solved", "unreachable")
audit = logging.getLogger("audit.callbacks")


def pending_for(session: Session, assignee: str | None, limit: int = 200) -> list[CallbackRow]:
    """Pending callbacks by due time: a person's (or, with None, everyone's)."""
    query = select(CallbackRow).where(CallbackRow.status == PENDING)
    if assignee is not None:
        query = query.where(CallbackRow.assignee == assignee)
    return list(session.scalars(query.order_by(CallbackRow.due_at, CallbackRow.case_id).limit(limit)))


def pending_of_case(session: Session, case_id: str) -> CallbackRow | None:
    """The case's pending callback (the latest, locked for the caller's transaction)."""
    return session.scalar(
        select(CallbackRow)
        .where(CallbackRow.case_id == case_id, CallbackRow.status == PENDING)
        .order_by(CallbackRow.seq.desc(), CallbackRow.attempt.desc())
        .limit(1)
        .with_for_update()
    )


def complete(
    session: Session,
    case_id: str,
    outcome: str,
    note: str,
    actor: str,
    at: datetime,
    timezone: str = DEFAULT_TIMEZONE,
) -> CallbackRow | None:
    """Record the outcome of the case's pending callback (the latest); None when it has none. Late when
    done after the local day it was due."""
    row = pending_of_case(session, case_id)
    if row is None:
        return None
    zone = ZoneInfo(timezone)
    row.status, row.outcome, row.note, row.done_by, row.done_at = DONE, outcome, note, actor, at
    row.late = at.astimezone(zone).date() > row.due_at.astimezone(zone).date()
    audit.info("callback of %s done by %s: %s%s", case_id, actor, outcome, " (late)" if row.late else "")
    return row


def call_again(
    session: Session, done: CallbackRow, due_at: datetime, max_attempts: int
) -> CallbackRow | None:
    """After `unreachable`: the next attempt, due `due_at` (the next desk day), unless this was the
    last one allowed (then None: the callback ends unreachable)."""
    if done.attempt >= max_attempts:
        return None
    again = CallbackRow(
        case_id=done.case_id,
        seq=done.seq,
        attempt=done.attempt + 1,
        due_at=due_at,
        assignee=done.assignee,
        status=PENDING,
    )
    session.add(again)
    session.flush()
    return again


def is_overdue(row: CallbackRow, now: datetime, timezone: str = DEFAULT_TIMEZONE) -> bool:
    """Still pending after the local day it was due: a missing callback (the scorecard counts it)."""
    zone = ZoneInfo(timezone)
    return row.status == PENDING and now.astimezone(zone).date() > row.due_at.astimezone(zone).date()
