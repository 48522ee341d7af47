"""A case's conversation in the store (DESIGN §9): messages with their text sealed, outbound ones
queued in the outbox in the same transaction, and the first-response clock's facts on each customer
message (written by the reply-clock workflow's activities)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from domain.conversation import Party, Visibility
from domain.models import OutboxMessage
from store import outbox, personal
from store.common import utcnow
from store.models import CaseRow, MessageRow, OutboxRow

QUEUED, SENT, FAILED = "queued", "sent", "failed"


def new_message_id() -> str:
    return "MSG-" + secrets.token_hex(8)


def add_message(
    session: Session,
    case_id: str,
    author: str,
    party: Party,
    visibility: Visibility,
    text: str,
    attachments: Sequence[dict[str, Any]] = (),
    channel: str | None = None,
    at: datetime | None = None,
) -> MessageRow:
    """Store a message; one to the customer or the merchant (`channel` given) is queued for sending
    in the same transaction, so it is sent at least once or not stored at all."""
    message_id = new_message_id()
    row = MessageRow(
        message_id=message_id,
        case_id=case_id,
        at=at or utcnow(),
        author=author,
        author_party=party.value,
        visibility=visibility.value,
        text=personal.seal_message_text(session, case_id, message_id, text),
        attachments=list(attachments),
        channel=channel,
        delivery_status=QUEUED if channel else None,
        night=False,
    )
    session.add(row)
    session.flush()
    if channel:
        session.add(
            OutboxRow(
                idempotency_key=f"message-{message_id}",
                case_id=case_id,
                recipient_role=visibility.value,
                template="message",
                message="",  # the text stays sealed in `messages`; the relay opens it to send
                status=outbox.PENDING,
                attempts=0,
                next_attempt_at=row.at,
                created_at=row.at,
                message_id=message_id,
            )
        )
        session.flush()
    return row


def mark_replied(session: Session, case_id: str, at: datetime) -> list[str]:
    """The platform answered the customer at `at`: every customer message still waiting is
    answered now. Returns their ids (their reply clocks are told)."""
    waiting = list(
        session.scalars(
            select(MessageRow.message_id).where(
                MessageRow.case_id == case_id,
                MessageRow.author_party == Party.CUSTOMER.value,
                MessageRow.replied_at.is_(None),
            )
        )
    )
    if waiting:
        session.execute(update(MessageRow).where(MessageRow.message_id.in_(waiting)).values(replied_at=at))
    return waiting


@dataclass(frozen=True)
class Shown:
    row: MessageRow
    text: str


def list_messages(
    session: Session,
    case_id: str,
    visibilities: set[str],
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[Shown]:
    """The case's messages in these threads, oldest first, `limit` after the (at, id) cursor."""
    query = (
        select(MessageRow)
        .where(MessageRow.case_id == case_id, MessageRow.visibility.in_(sorted(visibilities)))
        .order_by(MessageRow.at, MessageRow.message_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(MessageRow.at, MessageRow.message_id) > after)
    return [Shown(row, personal.open_message_text(session, row)) for row in session.scalars(query)]


def get_message(session: Session, message_id: str) -> MessageRow | None:
    return session.get(MessageRow, message_id)


def forget_message(session: Session, message_id: str) -> None:
    """Undo a message whose reply clock could not be started (the caller answers 503)."""
    row = session.get(MessageRow, message_id)
    if row is not None:
        session.delete(row)


# --- sending (the outbox relay) ------------------------------------------------------------------


@dataclass(frozen=True)
class Outbound:
    text: str
    channel: str
    to: str | None  # the customer's phone or e-mail, the merchant's id (app push)


def outbound_of(session: Session, message_id: str) -> Outbound | None:
    row = session.get(MessageRow, message_id)
    if row is None or row.channel is None:
        return None
    case = session.get(CaseRow, row.case_id)
    to: str | None = None
    if case is not None and row.visibility == Visibility.MERCHANT.value:
        to = case.merchant_id
    elif case is not None:
        contact = personal.open_request(session, case).get("contact") or {}
        to = {"sms": contact.get("phone"), "email": contact.get("email")}.get(row.channel) or case.customer_id
    return Outbound(personal.open_message_text(session, row), row.channel, to)


def mark_sent(session: Session, message_id: str, at: datetime) -> None:
    session.execute(
        update(MessageRow)
        .where(MessageRow.message_id == message_id)
        .values(delivery_status=SENT, delivered_at=at, delivery_error=None)
    )


def mark_failed(session: Session, message_id: str, error: str) -> None:
    session.execute(
        update(MessageRow)
        .where(MessageRow.message_id == message_id)
        .values(delivery_status=FAILED, delivery_error=error[:300])
    )


# --- the first-response clock (the reply-clock workflow's activities) ------------------------------


def record_reply_facts(
    session: Session,
    message_id: str,
    reply_due_at: datetime,
    counts_on: date,
    night: bool,
    night_due_at: datetime | None,
) -> None:
    session.execute(
        update(MessageRow)
        .where(MessageRow.message_id == message_id)
        .values(reply_due_at=reply_due_at, counts_on=counts_on, night=night, night_due_at=night_due_at)
    )


def reply_clock_due(
    session: Session, message_id: str, kind: str, due_at: datetime, now: datetime
) -> datetime | None:
    """A limit of the clock passed. When the store already has the reply (its signal was lost or
    late), that time is returned and nothing is recorded; else the breach or the night violation is
    recorded once, the assignee and the supervisors are told (outbox), and None is returned."""
    row = session.get(MessageRow, message_id, with_for_update=True)
    if row is None:
        return None
    if row.replied_at is not None:
        return row.replied_at
    column = "frt_breached_at" if kind == "breach" else "night_violation_at"
    if getattr(row, column) is not None:
        return None  # recorded before (a retried activity)
    setattr(row, column, due_at)
    case = session.get(CaseRow, row.case_id)
    assignee = case.assigned_to if case is not None else None
    row.responsible = row.responsible or assignee
    when = f"{due_at:%Y-%m-%d %H:%M %Z}"
    what = (
        f"customer message {row.message_id} not answered within its first-response limit (due {when})"
        if kind == "breach"
        else f"night message {row.message_id} not answered by {when}"
    )
    alerts = [
        _alert(row.case_id, f"{row.message_id}-{kind}-supervisor", "supervisor", kind, what),
        _alert(
            row.case_id,
            f"{row.message_id}-{kind}-agent",
            "agent",
            kind,
            f"{what}; assigned to {assignee or 'nobody (in the queue)'}",
        ),
    ]
    outbox.add_messages(session, alerts, now)
    return None


def _alert(case_id: str, key: str, role: str, kind: str, text: str) -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=key,
        case_id=case_id,
        recipient_role=role,
        template=f"first_response_{kind}",
        message=text,
    )


def record_answered(
    session: Session,
    message_id: str,
    replied_at: datetime,
    first_response_seconds: int,
    breached: bool,
    night_violated: bool,
) -> None:
    """The first response: its time on the desk calendar; a breach found late (the timer fired
    after the reply was given) is cleared, one not recorded yet (no timer fired) is set."""
    row = session.get(MessageRow, message_id, with_for_update=True)
    if row is None:
        return
    row.replied_at = row.replied_at or replied_at
    row.first_response_seconds = first_response_seconds
    if not breached:
        row.frt_breached_at = None
    elif row.frt_breached_at is None:
        row.frt_breached_at = row.reply_due_at
    if not night_violated:
        row.night_violation_at = None
    elif row.night_violation_at is None:
        row.night_violation_at = row.night_due_at
