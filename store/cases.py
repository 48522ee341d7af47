"""Cases: creating one (idempotent per caller key, one open case per order line), reading it, and
its claims on order lines. Every write is idempotent, so a retried request writes nothing twice."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.models import CaseRequest, CaseView
from domain.money import Money
from store import personal, refunds, report_facts
from store.common import canonical, insert_unless_taken
from store.errors import IdempotencyConflict, OpenCaseExists
from store.models import CaseRow, EvidenceRow, OpenCaseLineRow
from store.vault import PersonalDataVault


def request_hash(req: CaseRequest) -> str:
    """sha256 of the request's canonical JSON: equal bodies hash alike whatever their key order."""
    body = req.model_dump(mode="json")
    # Fields added later hash only when given, so a retry of a case created before keeps its hash.
    if body["order"].get("region") is None:
        body["order"].pop("region", None)
    if not body["order"].get("vip"):
        body["order"].pop("vip", None)
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def columns_of(view: CaseView) -> dict[str, Any]:
    return {
        "status": str(view.status),
        "step": str(view.step),
        "close_reason": str(view.close_reason) if view.close_reason else None,
        "liability": str(view.liability) if view.liability else None,
        "sla_breached": view.sla_breached,
        "refunded_amount": view.refunded.amount,
        "deadlines": {k: v.isoformat() for k, v in view.deadlines.items()},
        "due_at": min(view.deadlines.values()) if view.deadlines else None,
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
    Race-safe: a concurrent insert with the same key (or line) loses its INSERT and reads the winner.
    """
    if idempotency_key is not None:
        existing = get_case_by_key(session, idempotency_key)
        if existing is not None:
            return _same_request(existing, request_hash(req)), False
    new = prepare_case(personal.vault_of(session), case_id, workflow_id, idempotency_key, req, view)
    return insert_case(session, new)


@dataclass(frozen=True)
class NewCase:
    """A case's row and the rows stored with it, made without the store (`prepare_case`): hashing,
    sealing and building rows stay out of the write transaction, which on SQLite is the one writer's
    turn, shared with the worker."""

    row: CaseRow
    data_key: bytes
    rows: list[Any]  # its data key, evidence and report facts, all referring to the case row
    request: CaseRequest
    digest: str


def prepare_case(
    vault: PersonalDataVault,
    case_id: str,
    workflow_id: str,
    idempotency_key: str | None,
    req: CaseRequest,
    view: CaseView,
) -> NewCase:
    """The new case's row, its personal fields sealed with a fresh data key; nothing is stored."""
    digest = request_hash(req)  # of the plain request, as before sealing: retries still match
    key, key_row = personal.fresh_data_key(vault, case_id)
    row = CaseRow(
        case_id=case_id,
        workflow_id=workflow_id,
        idempotency_key=idempotency_key,
        request_hash=digest,
        request=personal.seal_request_with(key, case_id, req.model_dump(mode="json")),
        contact_phone_hash=vault.phone_hash(req.contact.phone),
        order_id=req.order.order_id,
        merchant_id=req.order.merchant_id,
        customer_id=req.order.customer_id,
        region=req.order.region,
        issue_type=str(req.issue_type),
        reason=str(req.reason),
        priority=view.priority or req.priority,
        priority_reason=(view.priority_reason or "")[:200] or None,
        queue=view.queue or "general",
        assigned_to=None,
        paid_amount=view.paid.amount,
        currency=view.paid.currency,
        version=0,
        created_at=view.created_at,
        **columns_of(view),
    )
    evidence = [
        EvidenceRow(case_id=case_id, source="request", kind=e.kind, url=e.url, at=view.created_at)
        for e in req.evidence
    ]
    return NewCase(row, key, [key_row, *evidence, report_facts.opening_facts(row)], req, digest)


def insert_case(session: Session, new: NewCase) -> tuple[CaseRow, bool]:
    """Store a prepared case and claim its order lines; when its Idempotency-Key made a case first
    (a concurrent request), that case instead: (row, created). Raises as `create_case`.

    The statements run first and the prepared rows are only added to the session, so that they are
    flushed once, with whatever else the caller adds, at its commit."""
    row, req = new.row, new.request
    if not insert_unless_taken(session, row):
        # A concurrent request with the same key won the race: answer with its case.
        if row.idempotency_key is not None:
            existing = get_case_by_key(session, row.idempotency_key)
            if existing is not None:
                return _same_request(existing, new.digest), False
        raise IntegrityError("INSERT INTO cases", {"case_id": row.case_id}, Exception("case id taken"))
    for line_id in req.line_ids:
        _claim_line(session, req.order.order_id, line_id, row.case_id)
    refunds.record_order_lines(session, req.order.order_id, req.claimed_lines)
    personal.remember_data_key(session, row.case_id, new.data_key)
    session.add_all(new.rows)
    return row, True


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
    req = refunds.claimed_lines(case)
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
    everyone = refunds.refunded_on_lines(session, order_id, req.line_ids, case.currency)
    own = refunds.refunded_total(session, case_id, include_pending=True)
    others = max(everyone.amount - own.amount, Decimal(0))
    return LineClaimResult(None, None, Money(amount=others, currency=case.currency))


def _claim_line(session: Session, order_id: str, line_id: str, case_id: str) -> None:
    if insert_unless_taken(session, OpenCaseLineRow(order_id=order_id, line_id=line_id, case_id=case_id)):
        return
    # Another open case holds the line (PostgreSQL waited for a concurrent claim to commit).
    holder = session.get(OpenCaseLineRow, (order_id, line_id), populate_existing=True)
    raise OpenCaseExists(holder.case_id if holder else "?", order_id, line_id)


def check_same_request(existing: CaseRow, req: CaseRequest) -> None:
    """Raises IdempotencyConflict unless `existing` was made from this request."""
    _same_request(existing, request_hash(req))


def _same_request(existing: CaseRow, digest: str) -> CaseRow:
    if existing.request_hash != digest:
        raise IdempotencyConflict(existing.case_id)
    return existing


def get_case(session: Session, case_id: str, lock: bool = False) -> CaseRow | None:
    """The stored row: `request` has its personal fields sealed; `request_of` opens them. `lock`:
    held until the transaction ends (a write that depends on the case staying open)."""
    return session.get(CaseRow, case_id, with_for_update=lock)


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


def count_cases_since(session: Session, customer_id: str, since: datetime) -> int:
    """How many cases the customer (the order's `customer_id`) opened since `since`: a repeat
    claimant raises a new case's priority (domain.routing)."""
    return int(session.scalar(_CASES_SINCE, {"customer_id": customer_id, "since": since}) or 0)


def get_case_by_key(session: Session, key: str) -> CaseRow | None:
    """The case an Idempotency-Key created, if any."""
    return session.scalar(_BY_KEY, {"key": key})


# The queries every new case runs, built once: a statement object keeps its cache key between calls
# instead of being rebuilt and keyed again per call.
_CASES_SINCE = select(func.count()).where(
    CaseRow.customer_id == bindparam("customer_id"), CaseRow.created_at >= bindparam("since")
)
_BY_KEY = select(CaseRow).where(CaseRow.idempotency_key == bindparam("key"))
