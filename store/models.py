"""Case-store tables (SQLAlchemy 2 typed models), portable across PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out — also on SQLite, which keeps no offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Money = Numeric(18, 2)  # exact amounts; the currency is a column of its own


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UtcDateTime}


class CaseRow(Base):
    """One row per case: the original request, the workflow's latest view, and columns to filter on."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(60))
    # "<caller scope>:<Idempotency-Key>": keys belong to their caller.
    idempotency_key: Mapped[str | None] = mapped_column(String(240), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    order_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    issue_type: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(40))
    close_reason: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    # Decided at intake (domain.routing): the queue the routing rules chose and why the priority is
    # what it is. Cases opened before routing existed are in 'general'.
    queue: Mapped[str] = mapped_column(String(40), server_default="general")
    priority_reason: Mapped[str | None] = mapped_column(String(200))
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    liability: Mapped[str | None] = mapped_column(String(32))
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_amount: Mapped[Decimal] = mapped_column(Money)
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    deadlines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    view: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # HMAC-SHA256 of the contact phone's digits (store.vault): finds cases by phone, reveals nothing.
    contact_phone_hash: Mapped[str | None] = mapped_column(String(64))
    # The earliest of the view's deadlines (the step's or the platform clock's): queues sort by it.
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_cases_merchant_created", "merchant_id", "created_at", "case_id"),
        Index("ix_cases_created", "created_at", "case_id"),
        Index("ix_cases_status_step", "status", "step"),
        Index("ix_cases_order", "order_id"),
        Index("ix_cases_region_status", "region", "status"),
        Index("ix_cases_contact_phone_hash", "contact_phone_hash"),
        Index("ix_cases_queue_status", "queue", "status"),
        Index("ix_cases_customer_created", "customer_id", "created_at"),
        Index("ix_cases_assigned_status", "assigned_to", "status"),  # my cases; an agent's load
    )


class RoutingChangeRow(Base):
    """Each replacement of the routing table: who, when, and the whole table as it was given.

    The rules in force are those of the latest change (`RoutingRuleRow.generation`)."""

    __tablename__ = "routing_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    rules: Mapped[list[Any]] = mapped_column(JSON)


class RoutingRuleRow(Base):
    """One rule of the routing table, by position (first match wins); null match fields match any."""

    __tablename__ = "routing_rules"

    generation: Mapped[int] = mapped_column(
        ForeignKey("routing_changes.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(120))
    issue_types: Mapped[list[str] | None] = mapped_column(JSON)
    reasons: Mapped[list[str] | None] = mapped_column(JSON)
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    merchant_ids: Mapped[list[str] | None] = mapped_column(JSON)
    channels: Mapped[list[str] | None] = mapped_column(JSON)
    priorities: Mapped[list[str] | None] = mapped_column(JSON)
    min_amount: Mapped[Decimal | None] = mapped_column(Money)
    max_amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))


class CaseDataKeyRow(Base):
    """The data key that seals one case's personal fields, wrapped by a codec key (envelope encryption)."""

    __tablename__ = "case_data_keys"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40))
    wrapped_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_case_data_keys_key_id", "key_id"),)


class EventRow(Base):
    """Append-only audit trail; each row carries the hash of the previous one of its case."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The event feed's order (store.feed): on PostgreSQL the id of the writing transaction
    # (pg_current_xact_id), set on insert; 0 on SQLite (one writer at a time: `id` is commit order)
    # and for rows written before the feed existed. The feed reads in (txid, id) order.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))

    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),
        Index("ix_case_events_feed", "txid", "id"),
    )


class OpenCaseLineRow(Base):
    """At most one open case per order line: the row exists while the case is open."""

    __tablename__ = "open_case_lines"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))


class RefundRow(Base):
    """The refund ledger: one row per money-moving decision, keyed by case and sequence."""

    __tablename__ = "refunds"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    provider_refund_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OrderLineRow(Base):
    """One order line: what was paid for it and what all its cases reserved or paid back.

    The refund ceiling of DESIGN §8 holds here: `refunded_amount` never exceeds `paid_amount`.
    """

    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    paid_amount: Mapped[Decimal] = mapped_column(Money)
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RefundLineRow(Base):
    """How much of one refund decision fell on each order line of its case."""

    __tablename__ = "refund_lines"

    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)

    __table_args__ = (
        ForeignKeyConstraint(["case_id", "seq"], ["refunds.case_id", "refunds.seq"], ondelete="CASCADE"),
    )


class ActionRequestRow(Base):
    """A caller's Idempotency-Key of an action: the same key must come back with the same action and body."""

    __tablename__ = "action_requests"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CalendarOverrideRow(Base):
    """A closed or extra working day of a calendar: platform-wide (merchant_id NULL) or one merchant's."""

    __tablename__ = "calendar_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    calendar: Mapped[str] = mapped_column(String(40))
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("calendar", "merchant_id", "date", name="uq_calendar_override"),
        # NULLs are distinct in a unique constraint: this keeps platform-wide rows unique too.
        Index(
            "uq_calendar_override_platform",
            "calendar",
            "date",
            unique=True,
            postgresql_where=text("merchant_id IS NULL"),
            sqlite_where=text("merchant_id IS NULL"),
        ),
    )


class CalendarHoursRow(Base):
    """Other working hours for a calendar: platform-wide (merchant_id NULL) or one merchant's.

    `weekly` maps weekday 0 (Monday) … 6 to "HH:MM-HH:MM" periods; a missing day is closed.
    """

    __tablename__ = "calendar_hours"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    calendar: Mapped[str] = mapped_column(String(40))
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    weekly: Mapped[dict[str, Any]] = mapped_column(JSON)
    workday_periods: Mapped[list[str] | None] = mapped_column(JSON)
    timezone: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("calendar", "merchant_id", name="uq_calendar_hours"),
        Index(
            "uq_calendar_hours_platform",
            "calendar",
            unique=True,
            postgresql_where=text("merchant_id IS NULL"),
            sqlite_where=text("merchant_id IS NULL"),
        ),
    )


class FreezeRow(Base):
    """A holiday freeze in force: over one merchant, one region, a merchant in a region, or all
    (NULL = any). Cases opened while it lasts start frozen; a thaw of the same scope removes it."""

    __tablename__ = "freezes"

    scope: Mapped[str] = mapped_column(String(140), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    started_by: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CaseStartRow(Base):
    """A case whose workflow may not have started yet, written in the transaction that creates the case.

    The API starts the workflow right after it commits; the workflow's first store write deletes this
    row. A row still here after its `next_attempt_at` (the API died, or Temporal was down) is started
    by a worker's start relay, so a stored case always gets its workflow."""

    __tablename__ = "case_starts"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    # The workflow input without the request (the case row keeps that, sealed): no personal data.
    start: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a relay may start it: the grace after creation, a relay's lease, or a retry's backoff.
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxRow(Base):
    """A notification the workflow asked for, written in the same transaction as the case's store
    write (a transactional outbox); the worker's relay delivers it at least once with its key."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[str | None] = mapped_column(
        ForeignKey("cases.case_id", ondelete="CASCADE")
    )  # None: no case
    recipient_role: Mapped[str] = mapped_column(String(40))
    template: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A relay's lease: while it runs, other relays leave the message alone (the relay may be sending).
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A conversation message to send (its text is read, unsealed, from `messages` when sent).
    message_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        # "The next pending messages due": only pending rows, so delivered ones do not grow it.
        Index(
            "ix_outbox_pending_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_case", "case_id"),
    )


class ApiKeyRow(Base):
    """A bearer key of the API: only its sha256 is kept, so a leaked table authenticates nobody."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Space-separated permissions beyond the role, e.g. "decode_personal"; NULL for none.
    permissions: Mapped[str | None] = mapped_column(String(200))
    # The person the key belongs to (its role is theirs); NULL for a system's or merchant's key.
    person_id: Mapped[str | None] = mapped_column(ForeignKey("people.person_id"), index=True)


class PersonRow(Base):
    """An agent, supervisor, dispute-team member or ops person (DESIGN §9)."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_role_active", "role", "active"),)

    person_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    skills: Mapped[str] = mapped_column(String(2000), default="")  # space-separated queues; * = all
    presence: Mapped[str] = mapped_column(String(8), default="offline")  # as the person last set it
    presence_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # last authenticated request
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    deactivated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ConsoleSessionRow(Base):
    """A console sign-in (/console): only the token's sha256 is kept; the role, merchant and person are
    the signing-in key's, read live. Idle longer than the console's idle limit, it has expired."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CodecSessionRow(Base):
    """A codec sign-in: the cookie the Temporal UI sends to /codec. Only the token's sha256 is kept;
    role and permissions are the signing-in key's, read live, so revoking the key ends its sessions."""

    __tablename__ = "codec_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CodecDecodeRow(Base):
    """One /codec/decode: who (key and credential), which workflows, when, and whether it showed
    personal data in full."""

    __tablename__ = "codec_decodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    key_id: Mapped[str] = mapped_column(String(40))
    via: Mapped[str] = mapped_column(String(16))  # "api_key" or "codec_session"
    namespace: Mapped[str | None] = mapped_column(String(100))
    workflow_ids: Mapped[list[str]] = mapped_column(JSON)
    payloads: Mapped[int] = mapped_column(Integer)
    personal_revealed: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_codec_decodes_at", "at"),)


class ApprovalRow(Base):
    """Supervisor decisions, one per `approved` / `approval_rejected` audit event."""

    __tablename__ = "approvals"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(120))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class SurveyRow(Base):
    """One answered satisfaction survey (CSAT 1–5, NPS 0–10)."""

    __tablename__ = "surveys"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    csat: Mapped[int] = mapped_column(Integer)
    nps: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class NoteRow(Base):
    """Agents' notes and customer/merchant messages, with who may see them."""

    __tablename__ = "case_notes"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    visibility: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class SlaBreachRow(Base):
    """One row per breached step limit (a breach is recorded once)."""

    __tablename__ = "sla_breaches"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[str] = mapped_column(String(40))
    step_limit: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class EvidenceRow(Base):
    """References to evidence (photos, videos, documents); the files stay where the platform keeps them."""

    __tablename__ = "evidence_refs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class MessageRow(Base):
    """One message of a case's thread (DESIGN §9). `text` is sealed with the case's data key.

    `author_party`: customer, merchant or platform; `visibility`: internal (platform only), customer
    (the customer and the platform) or merchant (the merchant and the platform). An outbound message
    (platform to customer or merchant) carries its channel and delivery status; an inbound customer
    message carries its first-response clock: when the reply is due, when it came and the working
    seconds it took, a breach (once), and the night facts of seed 003 (the working day it counts to,
    the 12:00 deadline of a night message and its violation).
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_case_at", "case_id", "at"),
        Index("ix_messages_counts_on", "counts_on", "case_id"),  # FRT reports by the day it counts on
    )

    message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    author: Mapped[str] = mapped_column(String(200))
    author_party: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    channel: Mapped[str | None] = mapped_column(String(8))
    delivery_status: Mapped[str | None] = mapped_column(String(12))  # queued, sent, failed
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivery_error: Mapped[str | None] = mapped_column(String(300))
    reply_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    frt_breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    counts_on: Mapped[date | None] = mapped_column(Date)
    night: Mapped[bool] = mapped_column(Boolean, default=False)
    night_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    night_violation_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Who held the case when a limit of its first-response clock passed (the scorecard's agent).
    responsible: Mapped[str | None] = mapped_column(String(40))


class QualityChecklistItemRow(Base):
    """One item of the quality-review checklist (复核): a table, edited by supervisors."""

    __tablename__ = "quality_checklist_items"

    item_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    max_points: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    changed_by: Mapped[str] = mapped_column(String(200))


class QualityReviewRow(Base):
    """A closed case chosen for review (why, whose), and the supervisor's scores once given: a
    review is scored once, and then kept as it was (the audit of it)."""

    __tablename__ = "quality_reviews"
    __table_args__ = (Index("ix_quality_reviews_status", "status", "selected_at", "case_id"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    selected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reasons: Mapped[str] = mapped_column(String(100))  # space-separated ReviewReason values
    agent: Mapped[str | None] = mapped_column(String(40))  # who held the case when it closed
    status: Mapped[str] = mapped_column(String(12))  # pending, scored
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scores: Mapped[dict[str, int] | None] = mapped_column(JSON)
    total: Mapped[int | None] = mapped_column(Integer)
    max_total: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)


class CallbackRow(Base):
    """The next-working-day callback of a case (seed 003), a task for the agent who held the case when
    it was scheduled: due at the start of the next service-desk day; `late` when done after that day."""

    __tablename__ = "callbacks"
    __table_args__ = (
        Index("ix_callbacks_assignee_status", "assignee", "status", "due_at"),
        Index("ix_callbacks_status_due", "status", "due_at"),
    )

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # the callback_scheduled event's
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, then 2… after `unreachable`
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    assignee: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # pending, done
    outcome: Mapped[str | None] = mapped_column(String(16))  # solved, not_solved, unreachable
    note: Mapped[str | None] = mapped_column(Text)
    done_by: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    late: Mapped[bool | None] = mapped_column(Boolean)


class ScorecardRuleRow(Base):
    """One rule of one version of the scorecard's points table (seed 003); a version never changes."""

    __tablename__ = "scorecard_rules"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    observed: Mapped[bool] = mapped_column(Boolean)
    doubles_after: Mapped[int | None] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class ScorecardEntryRow(Base):
    """A violation a supervisor entered (what the system cannot observe), with a reason; reversible,
    never deleted."""

    __tablename__ = "scorecard_entries"
    __table_args__ = (Index("ix_scorecard_entries_month_person", "month", "person_id"),)

    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(String(40))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the platform's time zone
    code: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(500))
    entered_by: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reversed_by: Mapped[str | None] = mapped_column(String(200))
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(String(500))


class ReportCaseRow(Base):
    """A case's facts for the reports (docs/KPIS.md): its dimensions, written when the case is opened,
    and its measures, written by the store projection when it closes (again after an appeal). A
    reopened case loses its close (closed_on NULL) until it closes again."""

    __tablename__ = "report_cases"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    issue_type: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(40))
    agent: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_on: Mapped[date | None] = mapped_column(Date)  # in the platform's time zone
    close_reason: Mapped[str | None] = mapped_column(String(32))
    aht_seconds: Mapped[int | None] = mapped_column(Integer)  # the platform clock at close
    platform_limits: Mapped[int] = mapped_column(Integer, default=0)
    platform_breaches: Mapped[int] = mapped_column(Integer, default=0)
    merchant_limits: Mapped[int] = mapped_column(Integer, default=0)
    merchant_breaches: Mapped[int] = mapped_column(Integer, default=0)
    appealed: Mapped[bool] = mapped_column(Boolean, default=False)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    second_remedy: Mapped[bool] = mapped_column(Boolean, default=False)
    survey_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    csat: Mapped[int | None] = mapped_column(Integer)
    nps: Mapped[int | None] = mapped_column(Integer)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    refund_seconds: Mapped[int | None] = mapped_column(Integer)  # decision to first refund
    dispute_outcome: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_report_cases_closed_on", "closed_on", "merchant_id"),
        Index("ix_report_cases_merchant_closed_on", "merchant_id", "closed_on"),
    )


class ReportCaseItemRow(Base):
    """Per closed case: each limit it ran (kind `limit`: step, party, how many, how many breached),
    each automatic decision (kind `auto`: reason code, how many) and the dispute outcome (kind
    `outcome`). `closed_on` repeats the case's, so a report reads only the items of its range."""

    __tablename__ = "report_case_items"
    __table_args__ = (Index("ix_report_case_items_closed_on", "closed_on"),)

    case_id: Mapped[str] = mapped_column(
        ForeignKey("report_cases.case_id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    party: Mapped[str] = mapped_column(String(16), default="")
    total: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    closed_on: Mapped[date] = mapped_column(Date)


class ScheduledReportRow(Base):
    """A daily (`key` YYYY-MM-DD) or weekly (`key` YYYY-Www) report, built once by its schedule."""

    __tablename__ = "scheduled_reports"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # daily, weekly
    key: Mapped[str] = mapped_column(String(10), primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class PolicyVersionRow(Base):
    """One immutable version of a policy document (DESIGN §13): platform (merchant and category
    empty), merchant (category empty) or merchant+category. Versions count from 1 per level."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("scope", "version", name="uq_policy_versions_scope_version"),
        Index("ix_policy_versions_scope_effective", "scope", "effective_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # "platform", "merchant:<id>" or "category:<merchant id>/<category>": one key per level.
    scope: Mapped[str] = mapped_column(String(140))
    level: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class DelegationRow(Base):
    """An approver away from `starts_on` to `ends_on` (inclusive) approves through a named colleague."""

    __tablename__ = "approval_delegations"
    __table_args__ = (Index("ix_approval_delegations_delegate", "delegate_id", "starts_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delegator_id: Mapped[str] = mapped_column(String(64))
    delegator_role: Mapped[str] = mapped_column(String(16))
    delegate_id: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class CaseTrackingRow(Base):
    """A tracking number of one of a case's parcels (the return, or what the merchant ships)."""

    __tablename__ = "case_tracking"

    tracking_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10))  # return, outbound
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CarrierEventRow(Base):
    """A carrier's tracking event, stored once per (carrier, event id), whatever became of it."""

    __tablename__ = "carrier_events"
    __table_args__ = (Index("ix_carrier_events_tracking", "tracking_no"),)

    carrier: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    case_id: Mapped[str | None] = mapped_column(String(40))
    # signalled (sent to the case), unknown_tracking (no case has it), case_closed (recorded, ignored)
    outcome: Mapped[str] = mapped_column(String(20))


class WebhookSubscriptionRow(Base):
    """A backend system's webhook endpoint (DESIGN §11). The signing secret is stored wrapped by the
    codec key ring (store.webhooks); during a rotation's overlap the previous one signs too.

    `cursor_txid`/`cursor_id`: the feed position up to which the relay has queued this
    subscription's deliveries (a redelivery moves it back)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    event_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every kind
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret_key_id: Mapped[str] = mapped_column(String(64))
    secret_wrapped: Mapped[str] = mapped_column(Text)
    previous_key_id: Mapped[str | None] = mapped_column(String(64))
    previous_wrapped: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cursor_txid: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookLaneRow(Base):
    """The deliveries of one case to one subscription, sent in order: the unit a relay leases.

    `next_attempt_at` is when the lane's head is due (None: nothing pending); `claimed_until` is
    a relay's lease, after which any relay may take the lane over (the first died)."""

    __tablename__ = "webhook_lanes"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    case_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(
            "ix_webhook_lanes_due",
            "next_attempt_at",
            postgresql_where=text("next_attempt_at IS NOT NULL"),
            sqlite_where=text("next_attempt_at IS NOT NULL"),
        ),
    )


class WebhookDeliveryRow(Base):
    """One event to send to one subscription: `pending` until delivered, or `failed` when its
    retries ran out (the subscription is disabled then)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_webhook_deliveries_lane", "subscription_id", "case_id", "id"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )


class WebhookAttemptRow(Base):
    """Every delivery attempt: what the endpoint answered (or why nothing), and how fast."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(Integer)
    webhook_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[str] = mapped_column(
        String(80)
    )  # the feed cursor just before the event (redeliver from it)

    __table_args__ = (Index("ix_webhook_attempts_subscription", "subscription_id", "id"),)


class WebhookChangeRow(Base):
    """The audit of a subscription: created, changed, rotated, redelivered, disabled, deleted."""

    __tablename__ = "webhook_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
