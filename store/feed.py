"""The event feed (DESIGN §11): every audit event of every case in one total order, read from a cursor.

Order and the cursor are (txid, id). On PostgreSQL `txid` is the id of the transaction that wrote
the row (pg_current_xact_id), and the feed returns only rows whose txid is below the xmin of the
current snapshot: every transaction with a lower id has ended, so no row can still appear before
the last one returned. A transaction in flight holds the feed back until it ends; nothing committed
late is ever skipped. On SQLite writers take turns (one write lock, held to the commit), so ids are
commit order and txid is 0 everywhere. Rows written before the feed existed have txid 0 too: they
come first, in id order.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Text, and_, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from domain.enums import Actor
from domain.visibility import event_for_reader, needs_opening
from store import personal
from store.models import CaseDataKeyRow, CaseRow, EventRow

MAX_PAGE = 1000
START = (0, 0)  # before every event
Position = tuple[int, int]


def encode_position(position: Position) -> str:
    """An opaque, URL-safe feed cursor: the (txid, id) of the last event read."""
    return base64.urlsafe_b64encode(f"f1|{position[0]}|{position[1]}".encode()).decode().rstrip("=")


def decode_position(cursor: str | None) -> Position:
    if not cursor:
        return START
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, txid, event_id = raw.split("|")
        position = (int(txid), int(event_id))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("cursor is not one this API returned") from err
    if tag != "f1" or min(position) < 0:
        raise ValueError("cursor is not one this API returned")
    return position


def txid_of_dialect(dialect: str) -> ColumnElement[int]:
    """What `case_events.txid` is written as: the writing transaction's id on PostgreSQL, else 0."""
    if dialect == "postgresql":
        return cast(cast(func.pg_current_xact_id(), Text), BigInteger)
    return literal(0, BigInteger)


def _horizon(session: Session) -> ColumnElement[bool] | None:
    """Rows the feed may return now: on PostgreSQL those of transactions that have all ended."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    xmin = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return EventRow.txid < xmin


@dataclass(frozen=True)
class FeedEvent:
    """One event as its reader may see it, with the cursor that resumes right after it."""

    cursor: str
    before: str  # the cursor just before this event: `redeliver?from=` it to send it again
    event_id: int
    case_id: str
    merchant_id: str
    seq: int
    kind: str
    step: str
    at: datetime
    recorded_at: datetime
    actor_role: str
    summary: str
    payload: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """The event as the API and the webhooks send it (JSON-ready)."""
        return {
            "cursor": self.cursor,
            "case_id": self.case_id,
            "merchant_id": self.merchant_id,
            "seq": self.seq,
            "kind": self.kind,
            "step": self.step,
            "at": self.at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "actor_role": self.actor_role,
            "summary": self.summary,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class FeedPage:
    events: list[FeedEvent]
    next_cursor: str | None  # resume here (the last event's cursor; the one given when none came)
    more: bool  # a full page: more may be ready now


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event row as stored (personal fields sealed), read as columns: a page of a thousand
    costs no ORM identity bookkeeping."""

    id: int
    txid: int
    case_id: str
    seq: int
    kind: str
    step: str
    at: datetime
    recorded_at: datetime
    actor: str
    summary: str
    payload: dict[str, Any]
    merchant_id: str


COLUMNS = (
    EventRow.id,
    EventRow.txid,
    EventRow.case_id,
    EventRow.seq,
    EventRow.kind,
    EventRow.step,
    EventRow.at,
    EventRow.recorded_at,
    EventRow.actor,
    EventRow.summary,
    EventRow.payload,
    CaseRow.merchant_id,
)


def actor_role(actor: str) -> str:
    """The role part of an audit actor (`merchant:M-1:key` → `merchant`): the feed names no person."""
    return actor.split(":", 1)[0]


def after(position: Position) -> ColumnElement[bool]:
    txid, event_id = position
    return or_(EventRow.txid > txid, and_(EventRow.txid == txid, EventRow.id > event_id))


def read_rows(
    session: Session,
    position: Position,
    *,
    limit: int,
    kinds: Sequence[str] | None = None,
    merchant_id: str | None = None,
) -> list[StoredEvent]:
    """Stored events after `position` in feed order (at most `limit`), each with its case's merchant."""
    query = (
        select(*COLUMNS)
        .join(CaseRow, CaseRow.case_id == EventRow.case_id)
        .where(after(position))
        .order_by(EventRow.txid, EventRow.id)
        .limit(limit)
    )
    horizon = _horizon(session)
    if horizon is not None:
        query = query.where(horizon)
    if kinds:
        query = query.where(EventRow.kind.in_(list(kinds)))
    if merchant_id is not None:
        query = query.where(CaseRow.merchant_id == merchant_id)
    return [StoredEvent(*row) for row in session.execute(query)]


def as_seen_by(session: Session, rows: list[StoredEvent], role: Actor) -> list[FeedEvent]:
    """Stored events as a reader in `role` may see them: sealed fields opened only where the role may
    read them (the cases' data keys loaded in one query), then event_for_reader's visibility."""
    to_open = {row.case_id for row in rows if needs_opening(role, row.kind)}
    # One query for the data keys; held here, so that data_key() finds them in the session.
    keys = (
        list(session.scalars(select(CaseDataKeyRow).where(CaseDataKeyRow.case_id.in_(to_open))))
        if to_open
        else []
    )
    events = []
    for row in rows:
        if needs_opening(role, row.kind):
            opened = personal.open_event_fields(session, row.case_id, row.seq, row.kind, row.payload)
        else:
            opened = dict(row.payload or {})
        summary, payload = event_for_reader(role, row.kind, row.summary, opened)
        events.append(
            FeedEvent(
                cursor=encode_position((row.txid, row.id)),
                before=encode_position((row.txid, row.id - 1)),
                event_id=row.id,
                case_id=row.case_id,
                merchant_id=row.merchant_id,
                seq=row.seq,
                kind=row.kind,
                step=row.step,
                at=row.at,
                recorded_at=row.recorded_at,
                actor_role=actor_role(row.actor),
                summary=summary,
                payload=payload,
            )
        )
    del keys
    return events


def read_feed(
    session: Session,
    cursor: str | None,
    role: Actor,
    *,
    limit: int = 100,
    kinds: Sequence[str] | None = None,
    merchant_id: str | None = None,
) -> FeedPage:
    """A page of the feed after `cursor` (None: from the start), as `role` may see it.

    Raises ValueError for a foreign cursor or a limit out of range."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    position = decode_position(cursor)
    rows = read_rows(session, position, limit=limit, kinds=kinds, merchant_id=merchant_id)
    events = as_seen_by(session, rows, role)
    next_cursor = events[-1].cursor if events else cursor
    return FeedPage(events, next_cursor, more=len(events) == limit)


def event_rows(session: Session, event_ids: Sequence[int]) -> list[StoredEvent]:
    """Stored events by id (what the webhook relay sends), in feed order, with their merchant."""
    if not event_ids:
        return []
    query = (
        select(*COLUMNS)
        .join(CaseRow, CaseRow.case_id == EventRow.case_id)
        .where(EventRow.id.in_(list(event_ids)))
        .order_by(EventRow.txid, EventRow.id)
    )
    return [StoredEvent(*row) for row in session.execute(query)]


def head(session: Session) -> Position:
    """The position of the feed's last event readable now (START when there is none): where a new
    subscription starts, so that it hears what happens from now on."""
    query = select(EventRow.txid, EventRow.id).order_by(EventRow.txid.desc(), EventRow.id.desc()).limit(1)
    horizon = _horizon(session)
    if horizon is not None:
        query = query.where(horizon)
    found = session.execute(query).first()
    return (int(found[0]), int(found[1])) if found is not None else START
