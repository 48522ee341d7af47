"""Case endpoints: create, read, and one action endpoint per human step (DESIGN §6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import Context
from api.ids import new_case_id
from api.problems import Problem
from api.temporal_gateway import workflow_id_for
from domain.enums import Action, CaseStatus, Step
from domain.models import ACTION_PAYLOADS, ActionEnvelope, CaseInput, CaseRequest, CaseView, Contract
from domain.money import Money
from store import repository
from store.errors import IdempotencyConflict, OpenCaseExists

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


def _initial_view(case_id: str, req: CaseRequest, now: datetime) -> CaseView:
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
        created_at=now,
        updated_at=now,
    )


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
    response: Response,
    body: Annotated[CaseRequest, Body(openapi_examples={"kettle": {"value": EXAMPLE_CASE}})],
    idempotency_key: IdemKey = None,
) -> CaseCreated:
    """Open a case and start its workflow. The same `Idempotency-Key` returns the same case."""
    now = datetime.now(UTC)
    case_id = new_case_id(now)
    view = _initial_view(case_id, body, now)

    def insert() -> tuple[str, bool, dict[str, Any]]:
        with ctx.sessions.begin() as session:
            row, created = repository.create_case(
                session, case_id, workflow_id_for(case_id), idempotency_key, body, view
            )
            return row.case_id, created, dict(row.view)

    try:
        stored_id, created, stored_view = await run_in_threadpool(insert)
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
    stored = CaseView.model_validate(stored_view)
    inp = CaseInput(case_id=stored_id, request=body, received_at=stored.created_at)
    try:
        await ctx.gateway.start_case(inp)
    except Problem:
        if created:
            await run_in_threadpool(_forget, ctx, stored_id)
        raise
    if not created:
        response.status_code = 200
    return CaseCreated(
        case_id=stored_id,
        workflow_id=stored.workflow_id,
        status=stored.status,
        step=stored.step,
        deadlines=stored.deadlines,
    )


def _forget(ctx: Context, case_id: str) -> None:
    """The workflow could not start: remove the row so nothing stays half-written."""
    with ctx.sessions.begin() as session:
        repository.delete_case(session, case_id)


@router.get("/cases/{case_id}", response_model=CaseView)
async def get_case(ctx: Context, case_id: CaseId) -> CaseView:
    """The case as last recorded: status, step, deadlines, liability, options, money and timeline."""

    def read() -> dict[str, Any] | None:
        with ctx.sessions() as session:
            row = repository.get_case(session, case_id)
            return dict(row.view) if row else None

    view = await run_in_threadpool(read)
    if view is None:
        raise Problem(404, f"no case {case_id}")
    return CaseView.model_validate(view)


def _action_route(action: Action) -> None:
    model = ACTION_PAYLOADS[action]

    async def act(
        ctx: Context, case_id: CaseId, payload: Contract, idempotency_key: IdemKey = None
    ) -> CaseView:
        def exists() -> bool:
            with ctx.sessions() as session:
                return repository.get_case(session, case_id) is not None

        if not await run_in_threadpool(exists):
            raise Problem(404, f"no case {case_id}")
        envelope = ActionEnvelope(
            action=action,
            payload=payload.model_dump(mode="json"),
            actor="api",
            request_id=idempotency_key or str(uuid.uuid4()),
        )
        return await ctx.gateway.act(case_id, action, envelope, idempotency_key)

    # The payload model differs per action; with postponed annotations FastAPI must be told here.
    act.__annotations__["payload"] = model
    act.__name__ = f"{action.value}_action"
    act.__doc__ = (
        f"`{action.value}`: sent to the case workflow as an Update; 409 when the case is not at that step."
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
