"""Queues as the case store sees them: depth, oldest and breached open cases per queue, and a
queue's open cases in working order (breached first, then by due time), keyset-paginated; a
person's inbox (their open cases) in the same order and paging."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, false, func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from domain.enums import CaseStatus
from store.listing import MAX_PAGE
from store.models import CaseRow, UtcDateTime

# Cases with no deadline (none running) sort after every dated one.
NO_DUE = datetime(9999, 12, 31, tzinfo=UTC)
OPEN = CaseRow.status != str(CaseStatus.CLOSED)


@dataclass(frozen=True)
class QueueStats:
    queue: str
    depth: int
    oldest_created_at: datetime | None
    breached: int


def queue_stats(session: Session) -> list[QueueStats]:
    """Per queue with open cases (not closed): how many, the oldest one's creation, how many breached."""
    breached = func.sum(case((CaseRow.sla_breached == true(), 1), else_=0))
    query = (
        select(CaseRow.queue, func.count(), func.min(CaseRow.created_at), breached)
        .where(OPEN)
        .group_by(CaseRow.queue)
        .order_by(CaseRow.queue)
    )
    return [
        QueueStats(queue, int(depth), _utc(oldest), int(late or 0))
        for queue, depth, oldest, late in session.execute(query)
    ]


def _utc(value: datetime | str | None) -> datetime | None:
    """min() over a column comes back untyped on SQLite (a string): read it as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _due_key() -> ColumnElement[datetime]:
    return func.coalesce(CaseRow.due_at, literal(NO_DUE, UtcDateTime()))


def _encode_cursor(row: CaseRow) -> str:
    due = (row.due_at or NO_DUE).astimezone(UTC).isoformat()
    raw = f"{int(row.sla_breached)}|{due}|{row.case_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[bool, datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        breached, due, case_id = raw.split("|", 2)
        moment = datetime.fromisoformat(due)
        if breached not in ("0", "1") or moment.tzinfo is None:
            raise ValueError(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("cursor is not one this API returned") from err
    return breached == "1", moment, case_id


def queue_cases(
    session: Session, queue: str, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[CaseRow], str | None]:
    """The queue's open cases: breached first, then the earliest due, then by case id; keyset-paginated
    on that order, so a page never repeats a case that kept its place. A case whose due time or breach
    changes between pages moves (it may then be seen twice or not at all), as a queue does.
    Raises ValueError for a foreign cursor or a limit out of range."""
    return _open_cases(session, CaseRow.queue == queue, limit, cursor)


def assigned_cases(
    session: Session, person_id: str, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[CaseRow], str | None]:
    """A person's inbox: the open cases assigned to them, in the queue's working order and paging."""
    return _open_cases(session, CaseRow.assigned_to == person_id, limit, cursor)


def _open_cases(
    session: Session, which: ColumnElement[bool], limit: int, cursor: str | None
) -> tuple[list[CaseRow], str | None]:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    due = _due_key()
    query = select(CaseRow).where(which, OPEN)
    if cursor:
        breached, at, case_id = _decode_cursor(cursor)
        same_flag = CaseRow.sla_breached == (true() if breached else false())
        later_in_flag = and_(same_flag, or_(due > at, and_(due == at, CaseRow.case_id > case_id)))
        query = query.where(
            or_(later_in_flag, CaseRow.sla_breached == false()) if breached else later_in_flag
        )
    order = (CaseRow.sla_breached.desc(), due.asc(), CaseRow.case_id.asc())
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
