"""Case-store operations. Every write is idempotent, so a retried activity writes nothing twice."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from domain.audit import (
    ApprovalPayload,
    BreachPayload,
    ClosedPayload,
    EventKind,
    EvidencePayload,
    NotePayload,
    Payload,
    RefundedPayload,
    StepPayload,
    SurveyPayload,
    parse_payload,
)
from domain.enums import STATUS_OF_STEP, CaseStatus, Step
from domain.models import CaseDelta, CaseEvent, CaseProgress, CaseRequest, CaseView, OrderLine, TimelineEntry
from domain.money import Money
from store import outbox, personal
from store.errors import (
    ActionKeyConflict,
    IdempotencyConflict,
    OpenCaseExists,
    OrderLineMismatch,
    RefundConflict,
    RefundLimitExceeded,
)
from store.models import (
    ActionRequestRow,
    ApiKeyRow,
    ApprovalRow,
    CalendarHoursRow,
    CalendarOverrideRow,
    CaseDataKeyRow,
    CaseRow,
    EventRow,
    EvidenceRow,
    FreezeRow,
    NoteRow,
    OpenCaseLineRow,
    OrderLineRow,
    RefundLineRow,
    RefundRow,
    SlaBreachRow,
    SurveyRow,
)
from store.vault import is_sealed

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # prev_hash of a case's first event
REFUND_STATUSES = ("pending", "succeeded", "unknown", "failed")
# Refunds that may have paid (or will): they count against what can still be refunded.
OPEN_OR_PAID_REFUNDS = ("pending", "succeeded", "unknown")
CALENDAR_OVERRIDE_KINDS = ("closed", "working")
MAX_PAGE = 500
TIMELINE_SIZE = 50  # entries a stored view keeps, as the workflow's own timeline does


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_hash(req: CaseRequest) -> str:
    """sha256 of the request's canonical JSON: equal bodies hash alike whatever their key order."""
    body = req.model_dump(mode="json")
    if body["order"].get("region") is None:
        # Fields added later hash only when given, so a retry of a case created before keeps its hash.
        body["order"].pop("region", None)
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# --- cases ---------------------------------------------------------------------------------


def _columns_of(view: CaseView) -> dict[str, Any]:
    return {
        "status": str(view.status),
        "step": str(view.step),
        "close_reason": str(view.close_reason) if view.close_reason else None,
        "liability": str(view.liability) if view.liability else None,
        "sla_breached": view.sla_breached,
        "refunded_amount": view.refunded.amount,
        "deadlines": {k: v.isoformat() for k, v in view.deadlines.items()},
        "view": view.model_dump(mode="json"),
        "updated_at": view.updated_at,
    }


def create_case(
    session: Session,
    case_id: str,
    workflow_id: str,
    idempotency_key: str | None,
    req: CaseRequest,
    view: CaseView,
) -> tuple[CaseRow, bool]:
    """Insert the case (and claim its order lines), or return the case this key already made.

    Returns (row, created). Raises IdempotencyConflict when the key made a case from another body, and
    OpenCaseExists when a claimed line has an open case; the caller's transaction must then roll back.
    Race-safe: a concurrent insert with the same key (or line) fails in a SAVEPOINT and is re-read.
    """
    digest = request_hash(req)  # of the plain request, as before sealing: retries still match
    if idempotency_key is not None:
        existing = get_case_by_key(session, idempotency_key)
        if existing is not None:
            return _same_request(existing, digest), False
    vault = personal.vault_of(session)
    data_key = personal.new_data_key(session, case_id)
    row = CaseRow(
        case_id=case_id,
        workflow_id=workflow_id,
        idempotency_key=idempotency_key,
        request_hash=digest,
        request=personal.seal_request(session, case_id, req.model_dump(mode="json")),
        contact_phone_hash=vault.phone_hash(req.contact.phone),
        order_id=req.order.order_id,
        merchant_id=req.order.merchant_id,
        customer_id=req.order.customer_id,
        region=req.order.region,
        issue_type=str(req.issue_type),
        reason=str(req.reason),
        priority=req.priority,
        paid_amount=view.paid.amount,
        currency=view.paid.currency,
        version=0,
        created_at=view.created_at,
        **_columns_of(view),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            session.add(data_key)
            session.flush()
    except IntegrityError:
        personal.forget_data_key(session, case_id)
        # A concurrent request with the same key won the race: answer with its case.
        if idempotency_key is not None:
            existing = get_case_by_key(session, idempotency_key)
            if existing is not None:
                return _same_request(existing, digest), False
        raise
    for evidence in req.evidence:
        session.add(
            EvidenceRow(
                case_id=case_id, source="request", kind=evidence.kind, url=evidence.url, at=view.created_at
            )
        )
    for line_id in req.line_ids:
        _claim_line(session, req.order.order_id, line_id, case_id)
    _record_order_lines(session, req.order.order_id, req.claimed_lines)
    return row, True


@dataclass(frozen=True)
class _Claimed:
    order_id: str
    lines: list[OrderLine]

    @property
    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]


def _claimed(case: CaseRow) -> _Claimed:
    """The order and the claimed lines of a stored case (read from the request's plain fields)."""
    order = case.request["order"]
    wanted = set(case.request["line_ids"])
    lines = [OrderLine.model_validate(line) for line in order["lines"] if line["line_id"] in wanted]
    return _Claimed(order["order_id"], lines)


def _record_order_lines(session: Session, order_id: str, lines: Sequence[OrderLine]) -> None:
    """Remember what was paid for each claimed line; a later case must name the same amount."""
    for line in lines:
        paid = line.total
        stored = session.get(OrderLineRow, (order_id, line.line_id))
        if stored is None:
            try:
                with session.begin_nested():
                    session.add(
                        OrderLineRow(
                            order_id=order_id, line_id=line.line_id, currency=paid.currency,
                            paid_amount=paid.amount, refunded_amount=Decimal(0), updated_at=_now(),
                        )
                    )  # fmt: skip
                    session.flush()
                continue
            except IntegrityError:  # recorded by a concurrent case of another line set
                stored = session.get(OrderLineRow, (order_id, line.line_id), populate_existing=True)
                if stored is None:
                    raise
        if (stored.paid_amount, stored.currency) != (paid.amount, paid.currency):
            recorded = Money(amount=stored.paid_amount, currency=stored.currency)
            raise OrderLineMismatch(order_id, line.line_id, recorded, paid)


def refunded_on_lines(session: Session, order_id: str, line_ids: Sequence[str], currency: str) -> Money:
    """What all cases together have refunded (or may still pay) on these order lines."""
    total = session.scalar(
        select(func.coalesce(func.sum(OrderLineRow.refunded_amount), 0)).where(
            OrderLineRow.order_id == order_id, OrderLineRow.line_id.in_(list(line_ids))
        )
    )
    return Money(amount=Decimal(total or 0), currency=currency)


@dataclass(frozen=True)
class LineClaimResult:
    held_by: str | None
    line_id: str | None
    already_refunded: Money


def reclaim_case_lines(session: Session, case_id: str) -> LineClaimResult:
    """An appealed case takes its order lines back, unless another open case holds one of them.

    Idempotent: lines the case already holds stay its own. Returns what the other cases of the lines
    have refunded meanwhile, which bounds what the reopened case may still refund.
    """
    case = session.get(CaseRow, case_id, with_for_update=True)
    if case is None:
        raise LookupError(f"case {case_id} is not in the store")
    req = _claimed(case)
    order_id = req.order_id
    for line_id in req.line_ids:
        holder = session.get(OpenCaseLineRow, (order_id, line_id), populate_existing=True)
        if holder is not None and holder.case_id != case_id:
            return LineClaimResult(holder.case_id, line_id, Money.zero(case.currency))
    for line_id in req.line_ids:
        if session.get(OpenCaseLineRow, (order_id, line_id)) is None:
            try:
                _claim_line(session, order_id, line_id, case_id)
            except OpenCaseExists as taken:
                return LineClaimResult(taken.case_id, line_id, Money.zero(case.currency))
    everyone = refunded_on_lines(session, order_id, req.line_ids, case.currency)
    own = refunded_total(session, case_id, include_pending=True)
    others = max(everyone.amount - own.amount, Decimal(0))
    return LineClaimResult(None, None, Money(amount=others, currency=case.currency))


def _claim_line(session: Session, order_id: str, line_id: str, case_id: str) -> None:
    holder = session.get(OpenCaseLineRow, (order_id, line_id))
    if holder is not None:
        raise OpenCaseExists(holder.case_id, order_id, line_id)
    try:
        with session.begin_nested():
            session.add(OpenCaseLineRow(order_id=order_id, line_id=line_id, case_id=case_id))
            session.flush()
    except IntegrityError:
        # Another case claimed the line since we looked (PostgreSQL waited for it to commit).
        holder = session.get(OpenCaseLineRow, (order_id, line_id), populate_existing=True)
        raise OpenCaseExists(holder.case_id if holder else "?", order_id, line_id) from None


def _same_request(existing: CaseRow, digest: str) -> CaseRow:
    if existing.request_hash != digest:
        raise IdempotencyConflict(existing.case_id)
    return existing


def delete_case(session: Session, case_id: str) -> None:
    """Only for undoing a case whose workflow could not be started."""
    session.execute(delete(OpenCaseLineRow).where(OpenCaseLineRow.case_id == case_id))
    session.execute(delete(EventRow).where(EventRow.case_id == case_id))
    session.execute(delete(CaseDataKeyRow).where(CaseDataKeyRow.case_id == case_id))
    session.execute(delete(CaseRow).where(CaseRow.case_id == case_id))
    personal.forget_data_key(session, case_id)


def get_case(session: Session, case_id: str) -> CaseRow | None:
    """The stored row: `request` has its personal fields sealed; `request_of` opens them."""
    return session.get(CaseRow, case_id)


def request_of(session: Session, row: CaseRow) -> dict[str, Any]:
    """The case's request as it was sent, contact and description opened (needs the session's vault
    for a sealed row)."""
    return personal.open_request(session, row)


def find_cases_by_phone(session: Session, phone: str) -> list[CaseRow]:
    """Cases whose contact phone has the same digits, newest first (by the keyed phone hash)."""
    digest = personal.vault_of(session).phone_hash(phone)
    if digest is None:
        return []
    query = select(CaseRow).where(CaseRow.contact_phone_hash == digest)
    return list(session.scalars(query.order_by(CaseRow.created_at.desc(), CaseRow.case_id.desc())))


def get_case_by_key(session: Session, key: str) -> CaseRow | None:
    """The case an Idempotency-Key created, if any."""
    return session.scalar(select(CaseRow).where(CaseRow.idempotency_key == key))


def apply_progress(session: Session, progress: CaseProgress) -> None:
    """Write a workflow transition: newer projection wins, events insert once, chain extends.

    Idempotent, so the activity can retry it: an event whose (case_id, seq) is stored is skipped and
    a projection whose version is not above the stored one is ignored. The case row is locked first,
    which serialises concurrent writers of one case (and so their hash chain) on PostgreSQL.
    """
    projection = progress.projection
    view = projection.view
    row = session.get(CaseRow, view.case_id, with_for_update=True)
    if row is None:
        raise LookupError(f"case {view.case_id} is not in the store")
    for event in sorted(progress.events, key=lambda e: e.seq):
        _append_event(session, event)
    if projection.version > row.version:
        for key, value in _columns_of(view).items():
            setattr(row, key, value)
        row.version = projection.version
        row.priority = projection.priority
        row.assigned_to = projection.assigned_to
        if view.status == CaseStatus.CLOSED:
            _free_lines(session, view.case_id)
    session.flush()


@dataclass(frozen=True)
class DeltaApplied:
    """What one delta write changed; a retried or replayed write changes nothing: (False, 0, 0)."""

    view: bool
    events: int
    messages: int


def apply_delta(session: Session, delta: CaseDelta) -> DeltaApplied:
    """Write what changed in a case since its previous write, in the caller's transaction.

    The case row is locked first, which serialises the writers of one case (and so its hash chain).
    New events extend the audit trail once each by (case_id, seq); their timeline entries are added
    to the stored view's timeline (the last TIMELINE_SIZE kept: the timeline is the store's, a delta
    never carries it). The changed view fields are merged into the stored view only when the delta's
    version is above the stored one: a lower or equal version was written before. Notifications are
    queued in the outbox once per idempotency key, in the same transaction. A closed case frees its
    order lines; a closed case written open again (an appeal) keeps the line claims as they are,
    since the API re-claimed them before reopening it.
    """
    row = session.get(CaseRow, delta.case_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise LookupError(f"case {delta.case_id} is not in the store")
    appended = [event for event in sorted(delta.events, key=lambda e: e.seq) if _append_event(session, event)]
    newer = delta.version > row.version
    if newer:
        merged = {**row.view, **delta.view}
        merged["timeline"] = [*(row.view.get("timeline") or []), *map(_timeline_entry, appended)][
            -TIMELINE_SIZE:
        ]
        view = CaseView.model_validate(merged)
        for key, value in _columns_of(view).items():
            setattr(row, key, value)
        row.version = delta.version
        if delta.priority is not None:
            row.priority = delta.priority
        if delta.assigned_to is not None:
            row.assigned_to = delta.assigned_to
        if view.status == CaseStatus.CLOSED:
            _free_lines(session, delta.case_id)
    messages = outbox.add_messages(session, delta.notifications, _now())
    session.flush()
    return DeltaApplied(newer, len(appended), messages)


def _timeline_entry(event: CaseEvent) -> dict[str, Any]:
    entry = TimelineEntry(
        at=event.at, step=event.step, kind=event.kind, actor=event.actor, summary=event.summary
    )
    return entry.model_dump(mode="json")


def _free_lines(session: Session, case_id: str) -> None:
    """A closed case's order lines are free for a new case."""
    session.execute(delete(OpenCaseLineRow).where(OpenCaseLineRow.case_id == case_id))


def _event_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + _canonical(content)).encode()).hexdigest()


def _event_content(
    case_id: str, seq: int, at: datetime, kind: str, step: str, actor: str, summary: str, payload: Any
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "kind": kind,
        "step": step,
        "actor": actor,
        "summary": summary,
        "payload": payload,
    }


def _append_event(session: Session, event: CaseEvent) -> bool:
    """Extend the case's chain with the event; False when its (case_id, seq) is stored already."""
    exists = session.scalar(
        select(EventRow.id).where(EventRow.case_id == event.case_id, EventRow.seq == event.seq)
    )
    if exists is not None:
        return False
    prev = session.scalar(
        select(EventRow.hash)
        .where(EventRow.case_id == event.case_id, EventRow.seq < event.seq)
        .order_by(EventRow.seq.desc())
        .limit(1)
    )
    payload = json.loads(_canonical(event.payload))
    # The chain hashes what is stored (personal fields sealed), so it verifies without keys.
    stored = personal.seal_event_payload(session, event.case_id, event.seq, event.kind, payload)
    content = _event_content(
        event.case_id, event.seq, event.at, event.kind, str(event.step), event.actor, event.summary, stored
    )
    prev_hash = prev or GENESIS
    session.add(
        EventRow(
            case_id=event.case_id,
            seq=event.seq,
            at=event.at,
            kind=event.kind,
            step=str(event.step),
            actor=event.actor,
            summary=event.summary,
            payload=stored,
            prev_hash=prev_hash,
            hash=_event_hash(prev_hash, content),
            recorded_at=_now(),
        )
    )
    _derive_records(session, event, payload)
    session.flush()
    return True


def typed_payload(kind: str, payload: dict[str, Any]) -> Payload | None:
    """An event's payload as its kind's model (domain.audit); None when it does not fit the model.

    Sealed values (personal data at rest) are left out: a reader that needs them opens the payload
    first (`event_payload`). Readers skip a payload that does not fit (malformed, or older than its
    model), as they skipped missing fields before the vocabulary was typed.
    """
    readable = {key: value for key, value in payload.items() if not is_sealed(value)}
    try:
        return parse_payload(kind, readable)
    except ValidationError:
        return None


def _derive_records(session: Session, event: CaseEvent, payload: dict[str, Any]) -> None:
    """Approvals, surveys, notes, breaches and evidence get their own rows, written with their event.

    `payload` is the plain one; the customer's words (note text, survey comment) are stored sealed.
    """
    typed = typed_payload(event.kind, payload)
    if typed is None:
        log.warning(
            "event %s/%s (%s) does not fit its payload model: no record derived",
            event.case_id,
            event.seq,
            event.kind,
        )
        return
    key = {"case_id": event.case_id, "seq": event.seq, "at": event.at}
    if isinstance(typed, ApprovalPayload):
        session.add(ApprovalRow(**key, decision=typed.decision, actor=event.actor, comment=typed.comment))
    elif isinstance(typed, SurveyPayload):
        comment = personal.seal_survey_comment(session, event.case_id, event.seq, typed.comment)
        session.add(SurveyRow(**key, csat=typed.csat, nps=typed.nps, comment=comment))
    elif isinstance(typed, NotePayload):
        text = personal.seal_note_text(session, event.case_id, event.seq, typed.text)
        session.add(NoteRow(**key, actor=event.actor, visibility=typed.visibility, text=text))
    elif isinstance(typed, BreachPayload):
        session.add(
            SlaBreachRow(
                **key,
                step=typed.clock or str(event.step),  # a step, or "platform"
                step_limit=typed.step_limit,
                action=typed.action,
                due_at=typed.due_at,
            )
        )
    elif isinstance(typed, EvidencePayload):
        for url in typed.evidence:
            session.add(
                EvidenceRow(case_id=event.case_id, source=event.kind, kind="reference", url=url, at=event.at)
            )


@dataclass(frozen=True)
class RebuiltProjection:
    step: str
    status: str
    close_reason: str | None
    refunded: Decimal
    sla_breached: bool


def rebuild_projection(session: Session, case_id: str) -> RebuiltProjection:
    """The case's state derived from its audit trail alone — for repair after a store restore, and
    to check that the projection and the events agree."""
    step, close_reason, refunded, breached = Step.SUBMITTED, None, Decimal(0), False
    for event in list_events(session, case_id):
        typed = typed_payload(event.kind, event.payload or {})
        if isinstance(typed, StepPayload):
            step = typed.to
            if step != Step.CLOSED:
                close_reason = None
        elif isinstance(typed, ClosedPayload):
            close_reason = str(typed.reason)
        elif isinstance(typed, RefundedPayload):
            refunded += typed.amount
        elif event.kind == EventKind.SLA_BREACHED:
            breached = True
    return RebuiltProjection(
        step=str(step),
        status=str(STATUS_OF_STEP[step]),
        close_reason=close_reason,
        refunded=refunded,
        sla_breached=breached,
    )


def list_events(session: Session, case_id: str) -> list[EventRow]:
    """The audit trail as stored (personal fields sealed); `event_payload` opens a row's payload."""
    return list(session.scalars(select(EventRow).where(EventRow.case_id == case_id).order_by(EventRow.seq)))


def event_payload(session: Session, row: EventRow) -> dict[str, Any]:
    """An audit event's payload with its personal fields opened."""
    return personal.open_event_payload(session, row)


def note_text(session: Session, row: NoteRow) -> str:
    return personal.open_note_text(session, row)


def survey_comment(session: Session, row: SurveyRow) -> str:
    return personal.open_survey_comment(session, row)


@dataclass(frozen=True)
class ChainProblem:
    case_id: str
    seq: int
    problem: str


def verify_chain(session: Session, case_id: str | None = None) -> list[ChainProblem]:
    """Recompute every hash; a changed, removed or reordered row shows up as a problem."""
    query = select(EventRow).order_by(EventRow.case_id, EventRow.seq)
    if case_id is not None:
        query = query.where(EventRow.case_id == case_id)
    problems: list[ChainProblem] = []
    previous: dict[str, str] = {}
    for row in session.scalars(query):
        expected_prev = previous.get(row.case_id, GENESIS)
        content = _event_content(
            row.case_id, row.seq, row.at, row.kind, row.step, row.actor, row.summary, row.payload
        )
        if row.prev_hash != expected_prev:
            problems.append(ChainProblem(row.case_id, row.seq, "previous hash does not match the chain"))
        if _event_hash(row.prev_hash, content) != row.hash:
            problems.append(ChainProblem(row.case_id, row.seq, "row content does not match its hash"))
        previous[row.case_id] = row.hash
    return problems


# --- listing -------------------------------------------------------------------------------


def _encode_cursor(row: CaseRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.case_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, case_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("cursor is not one this API returned") from err
    if moment.tzinfo is None:
        raise ValueError("cursor is not one this API returned")
    return moment, case_id


def list_cases(
    session: Session,
    *,
    status: str | None = None,
    step: str | None = None,
    issue_type: str | None = None,
    merchant_id: str | None = None,
    region: str | None = None,
    breached: bool | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CaseRow], str | None]:
    """Newest first, keyset-paginated on (created_at, case_id): stable under concurrent inserts.

    The cursor is the position of the last row returned, so a page never repeats or skips a row that
    existed when the first page was read; cases created meanwhile appear only if they sort later.
    `created_from` is inclusive, `created_to` exclusive. Raises ValueError for a foreign cursor.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(CaseRow)
    filters = {
        CaseRow.status: status,
        CaseRow.step: step,
        CaseRow.issue_type: issue_type,
        CaseRow.merchant_id: merchant_id,
        CaseRow.region: region,
        CaseRow.sla_breached: breached,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if created_from is not None:
        query = query.where(CaseRow.created_at >= created_from)
    if created_to is not None:
        query = query.where(CaseRow.created_at < created_to)
    if cursor:
        at, case_id = decode_cursor(cursor)
        query = query.where(
            or_(CaseRow.created_at < at, and_(CaseRow.created_at == at, CaseRow.case_id < case_id))
        )
    rows = list(
        session.scalars(query.order_by(CaseRow.created_at.desc(), CaseRow.case_id.desc()).limit(limit + 1))
    )
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def open_case_workflow_ids(
    session: Session,
    *,
    merchant_id: str | None = None,
    region: str | None = None,
    frozen: bool | None = None,
) -> list[str]:
    """Workflow ids of the cases not closed, of one merchant and/or region (None: every one);
    `frozen` True/False keeps only the cases a stored freeze covers / does not cover.

    What a freeze, a thaw or a calendar change signals: the store knows a case from the moment the
    API accepts it, and a case closed meanwhile just answers the signal with "not found".
    """
    query = select(CaseRow.workflow_id).where(CaseRow.status != str(CaseStatus.CLOSED))
    if merchant_id is not None:
        query = query.where(CaseRow.merchant_id == merchant_id)
    if region is not None:
        query = query.where(CaseRow.region == region)
    if frozen is not None:
        covered = select(FreezeRow.scope).where(_freeze_covers(CaseRow.merchant_id, CaseRow.region)).exists()
        query = query.where(covered if frozen else ~covered)
    return list(session.scalars(query.order_by(CaseRow.workflow_id)))


# --- refund ledger -------------------------------------------------------------------------


def refund_key(case_id: str, seq: int) -> str:
    """The provider idempotency key of a refund decision: a retried payment cannot pay twice."""
    return f"{case_id}-refund-{seq}"


def reserve_refund(session: Session, case_id: str, seq: int, amount: Money) -> RefundRow:
    """The ledger row for this decision (created `pending`), before any money moves.

    Idempotent: the same (case_id, seq) returns the stored row, whatever its status now. Raises
    RefundLimitExceeded when non-failed refunds plus this one would exceed what was paid, and
    RefundConflict when the same decision comes back with another amount. The case row lock makes
    concurrent reservations of one case take turns, so together they cannot over-refund.
    """
    case = session.get(CaseRow, case_id, with_for_update=True)
    if case is None:
        raise LookupError(f"case {case_id} is not in the store")
    existing = session.get(RefundRow, (case_id, seq), populate_existing=True)
    if existing is not None:
        if (existing.amount, existing.currency) != (amount.amount, amount.currency):
            raise RefundConflict(
                f"refund {refund_key(case_id, seq)} was reserved for {existing.amount} {existing.currency}, "
                f"not {amount}"
            )
        return existing
    if amount.currency != case.currency:
        raise RefundLimitExceeded(f"refund in {amount.currency} for a case paid in {case.currency}")
    if amount.amount <= 0:
        raise RefundLimitExceeded(f"a refund must be above zero, not {amount}")
    already = refunded_total(session, case_id, include_pending=True)
    if already.amount + amount.amount > case.paid_amount:
        raise RefundLimitExceeded(
            f"refund of {amount} would exceed what was paid ({case.paid_amount} {case.currency}) "
            f"minus earlier refunds ({already})"
        )
    shares = _allocate_to_lines(session, case, amount)
    now = _now()
    row = RefundRow(
        case_id=case_id,
        seq=seq,
        idempotency_key=refund_key(case_id, seq),
        amount=amount.amount,
        currency=amount.currency,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    for (order_id, line_id), share in shares.items():
        session.add(RefundLineRow(case_id=case_id, seq=seq, line_id=line_id, order_id=order_id, amount=share))
    session.flush()
    return row


def _allocate_to_lines(session: Session, case: CaseRow, amount: Money) -> dict[tuple[str, str], Decimal]:
    """Split a refund over the case's order lines, each up to what is left on it across every case.

    The lines' ledger rows are locked (in a fixed order, so two cases cannot deadlock), so a
    concurrent refund on the same line waits for this transaction and then sees what it took.
    Raises RefundLimitExceeded when the lines together have less left than the amount.
    """
    req = _claimed(case)
    _record_order_lines(session, req.order_id, req.lines)  # cases opened before the ledger existed
    order_id = req.order_id
    shares: dict[tuple[str, str], Decimal] = {}
    wanted = amount.amount
    for line_id in sorted(req.line_ids):
        ledger = session.get(OrderLineRow, (order_id, line_id), with_for_update=True, populate_existing=True)
        assert ledger is not None
        share = min(ledger.paid_amount - ledger.refunded_amount, wanted)
        if share > 0:
            shares[(order_id, line_id)] = share
            wanted -= share
    if wanted > 0:
        left = amount.amount - wanted
        raise RefundLimitExceeded(
            f"refund of {amount} exceeds what is left to refund on order {order_id} lines "
            f"{', '.join(req.line_ids)} across all their cases ({left} {amount.currency})"
        )
    for (line_order, line_id), share in shares.items():
        ledger = session.get(OrderLineRow, (line_order, line_id))
        assert ledger is not None
        ledger.refunded_amount += share
        ledger.updated_at = _now()
    return shares


def mark_refund(
    session: Session, case_id: str, seq: int, status: str, provider_refund_id: str | None = None
) -> None:
    """Record what the provider said. `succeeded` is final: a late `unknown` cannot undo a payment."""
    if status not in REFUND_STATUSES:
        raise ValueError(f"refund status must be one of {', '.join(REFUND_STATUSES)}, not {status!r}")
    row = session.get(RefundRow, (case_id, seq), with_for_update=True)
    if row is None:
        raise LookupError(f"no refund {case_id}/{seq}")
    if row.status in ("succeeded", "failed"):
        return  # final
    if status == "failed":
        _release_lines(session, case_id, seq)  # the provider refused: nothing was paid
    row.status = status
    row.provider_refund_id = provider_refund_id or row.provider_refund_id
    row.updated_at = _now()


def _release_lines(session: Session, case_id: str, seq: int) -> None:
    for share in session.scalars(
        select(RefundLineRow).where(RefundLineRow.case_id == case_id, RefundLineRow.seq == seq)
    ):
        ledger = session.get(OrderLineRow, (share.order_id, share.line_id), with_for_update=True)
        if ledger is not None:
            ledger.refunded_amount = max(ledger.refunded_amount - share.amount, Decimal(0))
            ledger.updated_at = _now()


def refunded_total(session: Session, case_id: str, include_pending: bool = False) -> Money:
    """What the provider confirmed refunding; with include_pending, also what may still be paid."""
    statuses = OPEN_OR_PAID_REFUNDS if include_pending else ("succeeded",)
    case = session.get(CaseRow, case_id)
    currency = case.currency if case else "CNY"
    total = session.scalar(
        select(func.coalesce(func.sum(RefundRow.amount), 0)).where(
            RefundRow.case_id == case_id, RefundRow.status.in_(statuses)
        )
    )
    return Money(amount=Decimal(total or 0), currency=currency)


def list_refunds(session: Session, case_id: str) -> list[RefundRow]:
    return list(
        session.scalars(select(RefundRow).where(RefundRow.case_id == case_id).order_by(RefundRow.seq))
    )


# --- calendar overrides ----------------------------------------------------------------------


def add_calendar_override(
    session: Session, calendar: str, merchant_id: str | None, day: date, kind: str, note: str = ""
) -> CalendarOverrideRow:
    """Close a working day or open a closed one; merchant_id None means platform-wide.

    Idempotent per (calendar, merchant, date): the latest kind and note win, also when two admins
    add the same date at once.
    """
    if kind not in CALENDAR_OVERRIDE_KINDS:
        raise ValueError(f"calendar override kind must be one of {', '.join(CALENDAR_OVERRIDE_KINDS)}")
    merchant_id = merchant_id or None
    row = _calendar_override(session, calendar, merchant_id, day)
    if row is None:
        try:
            with session.begin_nested():
                row = CalendarOverrideRow(
                    calendar=calendar,
                    merchant_id=merchant_id,
                    date=day,
                    kind=kind,
                    note=note,
                    created_at=_now(),
                )
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            row = _calendar_override(session, calendar, merchant_id, day)
            if row is None:
                raise
    row.kind, row.note = kind, note
    session.flush()
    return row


def _calendar_override(
    session: Session, calendar: str, merchant_id: str | None, day: date
) -> CalendarOverrideRow | None:
    return session.scalar(
        select(CalendarOverrideRow)
        .where(
            CalendarOverrideRow.calendar == calendar,
            _merchant_scope(merchant_id),
            CalendarOverrideRow.date == day,
        )
        .execution_options(populate_existing=True)
    )


def _merchant_scope(merchant_id: str | None) -> ColumnElement[bool]:
    if merchant_id:
        return CalendarOverrideRow.merchant_id == merchant_id
    return CalendarOverrideRow.merchant_id.is_(None)


def list_calendar_overrides(
    session: Session, calendar: str, merchant_id: str | None = None
) -> Sequence[CalendarOverrideRow]:
    """One scope's overrides by date: the platform's (merchant_id None) or one merchant's own."""
    return list(
        session.scalars(
            select(CalendarOverrideRow)
            .where(CalendarOverrideRow.calendar == calendar, _merchant_scope(merchant_id))
            .order_by(CalendarOverrideRow.date)
        )
    )


# --- calendar hours --------------------------------------------------------------------------


def _hours_scope(merchant_id: str | None) -> ColumnElement[bool]:
    if merchant_id:
        return CalendarHoursRow.merchant_id == merchant_id
    return CalendarHoursRow.merchant_id.is_(None)


def get_calendar_hours(session: Session, calendar: str, merchant_id: str | None) -> CalendarHoursRow | None:
    """One scope's stored hours: the platform's (merchant_id None) or one merchant's own."""
    return session.scalar(
        select(CalendarHoursRow)
        .where(CalendarHoursRow.calendar == calendar, _hours_scope(merchant_id))
        .execution_options(populate_existing=True)
    )


def set_calendar_hours(
    session: Session,
    calendar: str,
    merchant_id: str | None,
    weekly: dict[str, list[str]],
    workday_periods: list[str] | None = None,
    timezone: str | None = None,
    note: str = "",
) -> CalendarHoursRow:
    """Replace a scope's working hours (validated by the caller); the latest write wins."""
    merchant_id = merchant_id or None
    values = {"weekly": weekly, "workday_periods": workday_periods, "timezone": timezone, "note": note}
    row = get_calendar_hours(session, calendar, merchant_id)
    if row is None:
        try:
            with session.begin_nested():
                row = CalendarHoursRow(
                    calendar=calendar, merchant_id=merchant_id, updated_at=_now(), **values
                )
                session.add(row)
                session.flush()
            return row
        except IntegrityError:  # a concurrent first write won: overwrite it below
            row = get_calendar_hours(session, calendar, merchant_id)
            if row is None:
                raise
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = _now()
    session.flush()
    return row


def clear_calendar_hours(session: Session, calendar: str, merchant_id: str | None) -> bool:
    """Back to the calendar's standard hours (or the platform's, for a merchant); False if none were set."""
    result = session.execute(
        delete(CalendarHoursRow).where(CalendarHoursRow.calendar == calendar, _hours_scope(merchant_id))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- freezes --------------------------------------------------------------------------------

# A case's merchant or region: a value, or the case row's column inside a query.
Scoped = str | ColumnElement[Any] | InstrumentedAttribute[Any] | None


def freeze_scope(merchant_id: str | None, region: str | None) -> str:
    return f"merchant={merchant_id or '*'} region={region or '*'}"


def start_freeze(
    session: Session, merchant_id: str | None, region: str | None, reason: str, actor: str
) -> FreezeRow:
    """Record a freeze over a scope (None = any); freezing a frozen scope again keeps its start."""
    scope = freeze_scope(merchant_id, region)
    row = session.get(FreezeRow, scope, populate_existing=True)
    if row is None:
        try:
            with session.begin_nested():
                row = FreezeRow(
                    scope=scope, merchant_id=merchant_id or None, region=region or None,
                    reason=reason, started_by=actor, started_at=_now(),
                )  # fmt: skip
                session.add(row)
                session.flush()
            return row
        except IntegrityError:  # frozen by a concurrent request: keep its row
            row = session.get(FreezeRow, scope, populate_existing=True)
            if row is None:
                raise
    row.reason = reason
    session.flush()
    return row


def end_freeze(session: Session, merchant_id: str | None, region: str | None) -> bool:
    """Remove the freeze of exactly this scope; False when there was none."""
    result = session.execute(delete(FreezeRow).where(FreezeRow.scope == freeze_scope(merchant_id, region)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _freeze_covers(merchant_id: Scoped, region: Scoped) -> ColumnElement[bool]:
    """A stored freeze covers a case when each of its scope's parts is unset or equals the case's."""
    return and_(
        or_(FreezeRow.merchant_id.is_(None), FreezeRow.merchant_id == merchant_id),
        or_(FreezeRow.region.is_(None), FreezeRow.region == region),
    )


def active_freeze(session: Session, merchant_id: str | None, region: str | None) -> str | None:
    """The reason of the oldest freeze covering a case of this merchant and region, if any."""
    return session.scalar(
        select(FreezeRow.reason)
        .where(_freeze_covers(merchant_id, region))
        .order_by(FreezeRow.started_at, FreezeRow.scope)
        .limit(1)
    )


def list_freezes(session: Session) -> list[FreezeRow]:
    return list(session.scalars(select(FreezeRow).order_by(FreezeRow.started_at, FreezeRow.scope)))


# --- API keys --------------------------------------------------------------------------------


def _key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


# Permissions a key may hold beyond its role.
DECODE_PERSONAL = "decode_personal"  # the codec shows personal data in full (ops, supervisor, dispute)
PERMISSIONS = (DECODE_PERSONAL,)


def create_api_key(
    session: Session,
    role: str,
    merchant_id: str | None = None,
    label: str = "",
    permissions: Sequence[str] = (),
) -> tuple[str, str]:
    """A new key; only its hash is stored. Returns (key_id, plaintext) — show the plaintext once."""
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
            created_at=_now(),
            permissions=" ".join(sorted(set(permissions))) or None,
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
    row.revoked_at = _now()
    return True


# --- idempotency of actions -------------------------------------------------------------------


def action_body_hash(action: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({"action": action, "payload": payload}).encode()).hexdigest()


def remember_action_key(
    session: Session, scope: str, key: str, case_id: str, action: str, payload: dict[str, Any]
) -> bool:
    """Record a caller's Idempotency-Key for an action; True when it is new, False for a repeat.

    A repeat must name the same case, action and body: otherwise ActionKeyConflict (the API's 409).
    Keys are scoped per caller, so another caller's key never replays somebody else's action.
    """
    digest = action_body_hash(action, payload)
    row = session.get(ActionRequestRow, (scope, key))
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    ActionRequestRow(
                        scope=scope,
                        key=key,
                        case_id=case_id,
                        action=action,
                        request_hash=digest,
                        created_at=_now(),
                    )
                )
                session.flush()
            return True
        except IntegrityError:  # the same key at the same moment: compare with the winner
            row = session.get(ActionRequestRow, (scope, key), populate_existing=True)
            if row is None:
                raise
    if row.case_id != case_id or row.action != action:
        raise ActionKeyConflict(
            f"this Idempotency-Key was used for {row.action} on case {row.case_id}", row.case_id
        )
    if row.request_hash != digest:
        raise ActionKeyConflict("this Idempotency-Key was used with a different request body", row.case_id)
    return False


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))
