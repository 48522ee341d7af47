"""Case endpoints: create, read, and one action endpoint per human step (DESIGN §6)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from api import case_starts as case_starts_api
from api.assignment import ASSIGNMENT_ACTIONS, assignment_body
from api.auth import ACTION_ROLES, Creator, Identity, Reader, require
from api.delegation import approval_body
from api.deps import AppContext, Context
from api.ids import new_case_id
from api.masking import mask_contact, mask_personal
from api.problems import Problem
from core.logging import case_id_var
from domain.audit import EventKind
from domain.enums import PRIORITIES, Action, Actor, CaseStatus, IssueType, Priority, Reason, Step
from domain.intake import date_problems
from domain.models import (
    ACTION_PAYLOADS,
    ActionEnvelope,
    CaseInput,
    CaseRequest,
    CaseView,
    Contract,
    OrderLine,
)
from domain.money import Money
from domain.names import workflow_id_for
from domain.policy import CasePolicy
from domain.policy_docs import resolve
from domain.routing import CaseFacts, PriorityDecision, derive_priority, route
from domain.visibility import event_as_seen_by
from store import audit, case_starts, cases, idempotency, listing, personal, refunds
from store.errors import ActionKeyConflict, IdempotencyConflict, OpenCaseExists, OrderLineMismatch
from store.models import CaseRow

log = logging.getLogger("api.cases")
router = APIRouter(prefix="/v1", tags=["cases"])
CaseId = Annotated[
    str, Path(pattern=r"^AS\d{8}[0-9A-Z]{4,16}$", max_length=32, examples=["AS20261001K7Q3XZ2M"])
]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200, pattern=r"^[\x21-\x7e]+$")]

EXAMPLE_CASE = {
    "order": {
        "order_id": "O-20261001-0001",
        "merchant_id": "M-100",
        "customer_id": "C-42",
        "paid_at": "2026-10-01T10:00:00+08:00",
        "delivered_at": "2026-10-03T15:00:00+08:00",
        "payment_method": "alipay",
        "region": "CN-ZJ",
        "lines": [
            {
                "line_id": "L1",
                "sku": "SKU-1",
                "name": "Electric kettle",
                "category": "appliances",
                "quantity": 1,
                "unit_price": {"amount": "129.00", "currency": "CNY"},
            }
        ],
    },
    "line_ids": ["L1"],
    "issue_type": "return_and_refund",
    "reason": "quality_issue",
    "description": "The kettle leaks from the base.",
    "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/1.jpg"}],
    "contact": {"name": "张三", "phone": "+86 138 0000 0000", "address": "上海市…"},
    "channel": "app",
}


class CaseCreated(BaseModel):
    case_id: str
    workflow_id: str
    status: CaseStatus
    step: Step
    deadlines: dict[str, datetime]
    queue: str | None = Field(default=None, description="the queue the routing rules put the case in")
    priority: Priority | None = Field(
        default=None, description="derived at intake; never below the given one"
    )
    priority_reason: str | None = None


def _initial_view(
    case_id: str,
    req: CaseRequest,
    now: datetime,
    queue: str | None = None,
    priority: PriorityDecision | None = None,
) -> CaseView:
    return CaseView(
        case_id=case_id,
        workflow_id=workflow_id_for(case_id),
        status=CaseStatus.PENDING,
        step=Step.SUBMITTED,
        issue_type=req.issue_type,
        reason=req.reason,
        order_id=req.order.order_id,
        merchant_id=req.order.merchant_id,
        paid=req.paid_total,
        refunded=Money.zero(req.paid_total.currency),
        queue=queue,
        priority=priority.priority if priority else req.priority,
        priority_reason=priority.reason if priority else None,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True)
class Intake:
    """What intake decided for a new case (or found stored for a repeated request)."""

    created: bool
    view: dict[str, Any]  # as stored (validated out of the write transaction)
    inp: CaseInput  # the workflow's input
    start: CaseInput | None  # the input of a start still to make (None: made already)


def _policy_for(ctx: Context, session: Session, body: CaseRequest, at: datetime) -> CasePolicy:
    """The policy in force when the case came in, for its merchant and the first claimed line's
    category (DESIGN §13): resolved here, so the workflow only reads it (and keeps it)."""
    category = body.claimed_lines[0].category if body.claimed_lines else None
    try:
        return ctx.intake.policy(session, body.order.merchant_id, category, at, ctx.policy)
    except ValueError:
        log.exception(
            "policy of merchant %s category %s cannot work: built-in defaults",
            body.order.merchant_id,
            category,
        )
        return resolve([], ctx.policy).policy


def _routed(
    ctx: AppContext, session: Session, req: CaseRequest, now: datetime
) -> tuple[str, PriorityDecision]:
    """The case's priority (the customer's recent cases counted in the store) and its queue, read
    just before the transaction that inserts the case."""
    rules = ctx.settings.priority_rules
    earlier = cases.count_cases_since(session, req.order.customer_id, now - rules.repeat_window)
    priority = derive_priority(req, earlier, rules)
    table = ctx.intake.routing_rules(session)
    found = route(table, CaseFacts.of(req, priority.priority), ctx.settings.default_queue)
    return found.queue, priority


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseCreated,
    responses={
        200: {"description": "same Idempotency-Key: the existing case"},
        409: {"description": "conflict"},
    },
)
async def create_case(
    ctx: Context,
    who: Creator,
    response: Response,
    body: Annotated[CaseRequest, Body(openapi_examples={"kettle": {"value": EXAMPLE_CASE}})],
    idempotency_key: IdemKey = None,
) -> CaseCreated:
    """Open a case and start its workflow. The same `Idempotency-Key` returns the same case."""
    now = datetime.now(UTC)
    dates = date_problems(body, now)
    if dates:
        errors = [{"field": field, "message": message, "type": "value_error"} for field, message in dates]
        raise Problem(422, f"{dates[0][0]}: {dates[0][1]}", type_="/problems/validation", errors=errors)
    case_id = new_case_id(now)
    scoped_key = f"{who.idempotency_scope}:{idempotency_key}" if idempotency_key is not None else None
    currency = body.paid_total.currency

    def repeated(session: Session, row: CaseRow) -> Intake:
        """A request whose Idempotency-Key made `row`: its case as it was given then (priority,
        policy), started only if that has not happened yet."""
        stored_priority = cast(Priority, row.priority) if row.priority in PRIORITIES else body.priority
        inp = CaseInput(
            case_id=row.case_id,
            request=body,
            received_at=row.created_at,
            created_by=who.actor,
            policy=_policy_for(ctx, session, body, row.created_at).for_priority(stored_priority),
            already_refunded=refunds.refunded_on_lines(session, body.order.order_id, body.line_ids, currency),
            queue=row.queue,
            priority=stored_priority,
            priority_reason=row.priority_reason,
        )
        pending = case_starts.is_pending(session, row.case_id)
        return Intake(False, dict(row.view), inp, inp if pending else None)

    def insert() -> Intake:
        # Everything that needs no write happens first, outside the write transaction (on SQLite the
        # one writer's turn, shared with the worker): the repeat check, routing and policy (read from
        # a snapshot), the view, the sealing and the workflow input.
        with ctx.reads() as session:
            stored = cases.get_case_by_key(session, scoped_key) if scoped_key is not None else None
            if stored is not None:
                cases.check_same_request(stored, body)
                return repeated(session, stored)
            queue, priority = _routed(ctx, session, body, now)
            policy = _policy_for(ctx, session, body, now)
            vault = personal.vault_of(session)
        view = _initial_view(case_id, body, now, queue, priority)
        new = cases.prepare_case(vault, case_id, workflow_id_for(case_id), scoped_key, body, view)
        inp = CaseInput(
            case_id=case_id,
            request=body,
            received_at=now,
            created_by=who.actor,
            # A higher priority shortens the platform's and merchant's limits (CasePolicy.for_priority).
            policy=policy.for_priority(priority.priority),
            already_refunded=Money.zero(currency),
            queue=new.row.queue,
            priority=priority.priority,
            priority_reason=new.row.priority_reason,
        )
        start = case_starts.start_fields(inp)
        with ctx.sessions.begin() as session:
            row, created = cases.insert_case(session, new)
            if not created:  # a concurrent request with the same key stored its case first
                return repeated(session, row)
            # What earlier cases refunded on these lines bounds what this one may refund: read after
            # the lines are claimed, so no other open case can add to it meanwhile. (The rows the
            # case added do not bear on it: they are flushed once, at the commit.)
            with session.no_autoflush:
                already = refunds.refunded_on_lines(session, body.order.order_id, body.line_ids, currency)
            if already.amount:
                inp = inp.model_copy(update={"already_refunded": already})
                start = case_starts.start_fields(inp)
            # Durable with the case: if the start below never happens, a worker's relay makes it.
            grace = timedelta(seconds=ctx.settings.case_start_grace_seconds)
            case_starts.add(session, inp, now, grace, fields=start)
            return Intake(True, new.row.view, inp, inp)

    try:
        intake = await run_in_threadpool(insert)
    except OrderLineMismatch as err:
        raise Problem(422, str(err), type_="/problems/order-line-mismatch") from err
    except IdempotencyConflict as err:
        raise Problem(
            409, "this Idempotency-Key was used with a different request body", case_id=err.case_id
        ) from err
    except OpenCaseExists as err:
        raise Problem(
            409,
            f"order line {err.line_id} of order {err.order_id} already has an open case {err.case_id}",
            type_="/problems/open-case-exists",
            case_id=err.case_id,
        ) from err
    # The case and its pending start are stored: answer whether or not Temporal takes the start in time.
    if intake.start is not None:
        await ctx.starts.start(ctx.gateway, intake.start, ctx.settings.case_start_wait_seconds)
    if not intake.created:
        response.status_code = 200
    else:
        ctx.metrics.cases_started.labels(str(body.issue_type)).inc()
    stored = CaseView.model_validate(intake.view)
    return CaseCreated(
        case_id=stored.case_id,
        workflow_id=stored.workflow_id,
        status=stored.status,
        step=stored.step,
        deadlines=stored.deadlines,
        queue=intake.inp.queue,
        priority=intake.inp.priority,
        priority_reason=intake.inp.priority_reason,
    )


class ContactView(BaseModel):
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    masked: bool


class LineMoney(BaseModel):
    line_id: str
    sku: str
    name: str
    quantity: int
    paid: Money
    refunded: Money = Field(description="refunded or reserved on this line, by all its cases")
    remaining: Money = Field(description="what can still be refunded on this line")


class EvidenceView(BaseModel):
    kind: str
    url: str
    note: str | None = None


class CaseDetail(CaseView):
    contact: ContactView | None = None
    lines: list[LineMoney] = Field(default_factory=list, description="the claimed order lines' money")
    evidence: list[EvidenceView] = Field(
        default_factory=list,
        description="the customer's evidence given with the claim (later evidence: events)",
    )


class CaseList(BaseModel):
    items: list[CaseView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class EventView(BaseModel):
    seq: int
    at: datetime
    kind: str
    step: str
    actor: str
    summary: str
    payload: dict[str, Any]
    hash: str


class EventList(BaseModel):
    case_id: str
    events: list[EventView]


async def _owned(ctx: Context, who: Identity, case_id: str) -> CaseRow:
    case_id_var.set(case_id)  # every log line of this request carries the case id
    return await run_in_threadpool(_owned_row, ctx, who, case_id)


def _owned_row(ctx: Context, who: Identity, case_id: str) -> CaseRow:
    """The case row, or 404 — also when a merchant asks for another merchant's case."""
    with ctx.reads() as session:
        row = cases.get_case(session, case_id)
    if row is None or not who.sees_merchant(row.merchant_id):
        raise Problem(404, f"no case {case_id}")
    return row


@router.get("/cases/{case_id}", response_model=CaseDetail)
async def get_case(ctx: Context, who: Reader, case_id: CaseId) -> CaseDetail:
    """The case as last recorded: status, step, deadlines (and why), liability, options, money, timeline.

    Contact details are shown in full to agents, supervisors, the dispute team and the system; masked
    for merchants and ops."""
    case_id_var.set(case_id)

    def read() -> tuple[dict[str, Any], dict[str, Any], list[LineMoney]]:
        with ctx.reads() as session:
            row = cases.get_case(session, case_id)
            if row is None or not who.sees_merchant(row.merchant_id):
                raise Problem(404, f"no case {case_id}")
            lines = [_line_money(line, refunded) for line, refunded in refunds.line_money(session, row)]
            return dict(row.view), dict(cases.request_of(session, row)), lines

    view, request, lines = await run_in_threadpool(read)
    contact = dict(request.get("contact") or {})
    shown = contact if who.sees_personal_data else mask_contact(contact)
    return CaseDetail.model_validate(
        {
            **view,
            "contact": {**shown, "masked": not who.sees_personal_data},
            "lines": lines,
            "evidence": list(request.get("evidence") or []),
        }
    )


def _line_money(line: OrderLine, refunded: Decimal) -> LineMoney:
    paid = line.total
    back = Money(amount=refunded, currency=paid.currency)
    rest = Money(amount=max(paid.amount - refunded, Decimal(0)), currency=paid.currency)
    return LineMoney(
        line_id=line.line_id, sku=line.sku, name=line.name, quantity=line.quantity,
        paid=paid, refunded=back, remaining=rest,
    )  # fmt: skip


@router.get("/cases", response_model=CaseList)
async def list_cases(
    ctx: Context,
    who: Reader,
    status: Annotated[CaseStatus | None, Query()] = None,
    step: Annotated[Step | None, Query()] = None,
    issue_type: Annotated[IssueType | None, Query()] = None,
    merchant_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")] = None,
    region: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")] = None,
    breached: Annotated[bool | None, Query()] = None,
    created_from: Annotated[AwareDatetime | None, Query()] = None,
    created_to: Annotated[AwareDatetime | None, Query()] = None,
    reason: Annotated[Reason | None, Query()] = None,
    queue: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_-]+$")] = None,
    assigned_to: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=16)] = None,
    closed_from: Annotated[date | None, Query(description="closed on or after (platform time zone)")] = None,
    closed_to: Annotated[date | None, Query(description="closed on or before (platform time zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> CaseList:
    """Newest first, with filters and a cursor that stays stable while cases are added.
    Merchants only ever see their own cases."""
    if who.role == Actor.MERCHANT:
        if merchant_id not in (None, who.merchant_id):
            return CaseList(items=[], next_cursor=None)
        merchant_id = who.merchant_id

    def read() -> tuple[list[dict[str, Any]], str | None]:
        with ctx.reads() as session:
            rows, next_cursor = listing.list_cases(
                session,
                status=status,
                step=step,
                issue_type=issue_type,
                merchant_id=merchant_id,
                region=region,
                breached=breached,
                created_from=created_from,
                created_to=created_to,
                reason=reason,
                queue=queue,
                assigned_to=assigned_to,
                category=category,
                channel=channel,
                closed_from=closed_from,
                closed_to=closed_to,
                limit=limit,
                cursor=cursor,
            )
            return [dict(row.view) for row in rows], next_cursor

    try:
        views, next_cursor = await run_in_threadpool(read)
    except ValueError as err:
        raise Problem(422, str(err)) from err
    return CaseList(items=[CaseView.model_validate(v) for v in views], next_cursor=next_cursor)


@router.get("/cases/{case_id}/events", response_model=EventList)
async def case_events(ctx: Context, who: Reader, case_id: CaseId) -> EventList:
    """The audit trail: who did what, when, at which step; each row chained to the previous by hash.

    Internal notes show to agents, supervisors and the dispute team only (a note to the merchant also
    to the merchant, one to the customer also to the system that relays it); customer free text is
    left out for merchants and ops. `hash` covers the stored row, in which personal fields are
    sealed: `aftersales audit verify` recomputes it without keys."""
    await _owned(ctx, who, case_id)

    def shown(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        # A note's readers were decided by its visibility; everything else is masked by role.
        if kind == EventKind.NOTE or who.sees_personal_data:
            return payload
        return dict(mask_personal(payload)[0])

    def read() -> list[EventView]:
        with ctx.reads() as session:
            events = audit.list_events(session, case_id)
            rows = [(e, audit.event_payload(session, e)) for e in events]
        views = []
        for e, opened in rows:
            # Visibility holds here too: internal notes and customer free text by role.
            summary, payload = event_as_seen_by(who.role, e.kind, e.summary, dict(opened or {}))
            views.append(
                EventView(
                    seq=e.seq, at=e.at, kind=e.kind, step=e.step, actor=e.actor, summary=summary,
                    payload=shown(e.kind, payload), hash=e.hash,
                )
            )  # fmt: skip
        return views

    return EventList(case_id=case_id, events=await run_in_threadpool(read))


async def _remember_key(
    ctx: Context, who: Identity, key: str, case_id: str, action: Action, body: dict[str, Any]
) -> None:
    """The same key again must mean the same action on the same case with the same body: else 409."""

    def remember() -> None:
        with ctx.sessions.begin() as session:
            idempotency.remember_action_key(session, who.idempotency_scope, key, case_id, action.value, body)

    try:
        await run_in_threadpool(remember)
    except ActionKeyConflict as err:
        raise Problem(409, err.detail, type_="/problems/idempotency-key-reused", case_id=err.case_id) from err


def _action_route(action: Action) -> None:
    model = ACTION_PAYLOADS[action]
    allowed = Annotated[Identity, Depends(require(ACTION_ROLES[action]))]

    async def act(
        ctx: Context, who: Identity, case_id: CaseId, payload: Contract, idempotency_key: IdemKey = None
    ) -> CaseView:
        case = await _owned(ctx, who, case_id)
        if who.role == Actor.MERCHANT and getattr(payload, "party", "merchant") != "merchant":
            raise Problem(403, "a merchant gives dispute evidence for itself only (party must be merchant)")
        body = payload.model_dump(mode="json")
        actor = who.actor
        if action in ASSIGNMENT_ACTIONS:
            body = await assignment_body(ctx, who, action, payload, case)
        if action == Action.APPROVAL:
            body, actor = await approval_body(ctx, who, body, case)
        update_id = None
        if idempotency_key is not None:
            await _remember_key(ctx, who, idempotency_key, case_id, action, body)
            # The Update id dedupes retries in the workflow; scoped, so callers never share one.
            update_id = f"{who.idempotency_scope}:{idempotency_key}"
        envelope = ActionEnvelope(
            action=action, payload=body, actor=actor, request_id=update_id or str(uuid.uuid4())
        )
        try:
            view = await case_starts_api.act(ctx.gateway, ctx.reads, case_id, action, envelope, update_id)
        except Problem as problem:
            ctx.metrics.actions.labels(action.value, str(problem.status)).inc()
            raise
        ctx.metrics.actions.labels(action.value, "accepted").inc()
        return view

    # The payload model and the allowed roles differ per action; with postponed annotations
    # FastAPI must be given the real types here.
    act.__annotations__["payload"] = model
    act.__annotations__["who"] = allowed
    act.__name__ = f"{action.value}_action"
    roles = ", ".join(sorted(r.value for r in ACTION_ROLES[action]))
    act.__doc__ = (
        f"`{action.value}`: sent to the case workflow as an Update and answered with the new state. "
        f"Roles: {roles}. 409 when the case is not at a step that takes it."
    )
    router.add_api_route(
        f"/cases/{{case_id}}/{action.path}",
        act,
        methods=["POST"],
        response_model=CaseView,
        name=action.value,
        summary=f"{action.path.replace('-', ' ').capitalize()}",
        responses={404: {"description": "unknown case"}, 409: {"description": "not at that step"}},
    )


for _action in Action:
    _action_route(_action)
