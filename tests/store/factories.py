"""Builders for store tests: requests shaped like DESIGN §6's example, views and progress writes."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python

from domain.enums import STATUS_OF_STEP, CaseStatus, CloseReason, Step
from domain.models import (
    CaseDelta,
    CaseEvent,
    CaseProgress,
    CaseProjection,
    CaseRequest,
    CaseView,
    OutboxMessage,
)
from domain.money import Money

NOW = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def unique(prefix: str) -> str:
    """Tests share one database per session: every order and merchant id is fresh."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def case_id(at: datetime = NOW) -> str:
    return f"AS{at:%Y%m%d}" + "".join(secrets.choice(ID_ALPHABET) for _ in range(10))


def case_request(
    *,
    order_id: str | None = None,
    merchant_id: str = "M-100",
    line_ids: Sequence[str] = ("L1",),
    prices: Sequence[str] = ("129.00", "59.00"),
    description: str = "The kettle leaks from the base.",
    **overrides: Any,
) -> CaseRequest:
    """The DESIGN §6 kettle request; the order has one line per price (L1, L2, …)."""
    lines = [
        {
            "line_id": f"L{i}",
            "sku": f"SKU-{i}",
            "name": "Electric kettle" if i == 1 else f"Spare part {i}",
            "category": "appliances",
            "quantity": 1,
            "unit_price": {"amount": price, "currency": "CNY"},
        }
        for i, price in enumerate(prices, start=1)
    ]
    data: dict[str, Any] = {
        "order": {
            "order_id": order_id or unique("O"),
            "merchant_id": merchant_id,
            "customer_id": "C-42",
            "paid_at": "2026-10-01T10:00:00+08:00",
            "delivered_at": "2026-10-03T15:00:00+08:00",
            "payment_method": "alipay",
            "lines": lines,
        },
        "line_ids": list(line_ids),
        "issue_type": "return_and_refund",
        "reason": "quality_issue",
        "description": description,
        "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/1.jpg"}],
        "contact": {"name": "张三", "phone": "+86 138 0000 0000", "address": "上海市浦东新区"},
        "channel": "app",
    }
    data.update(overrides)
    return CaseRequest.model_validate(data)


def initial_view(cid: str, req: CaseRequest, at: datetime = NOW) -> CaseView:
    """What the API stores before the workflow runs: submitted, nothing refunded."""
    return CaseView(
        case_id=cid,
        workflow_id=f"case-{cid}",
        status=CaseStatus.PENDING,
        step=Step.SUBMITTED,
        issue_type=req.issue_type,
        reason=req.reason,
        order_id=req.order.order_id,
        merchant_id=req.order.merchant_id,
        paid=req.paid_total,
        refunded=Money.zero(req.paid_total.currency),
        deadlines={"preliminary_review": at + timedelta(hours=2)},
        created_at=at,
        updated_at=at,
    )


def moved(view: CaseView, step: Step, *, at: datetime | None = None, **changes: Any) -> CaseView:
    """The view after the workflow moved to `step` (status follows the step, as in the workflow)."""
    update: dict[str, Any] = {
        "step": step,
        "status": STATUS_OF_STEP[step],
        "updated_at": at or view.updated_at + timedelta(minutes=5),
    }
    if step == Step.CLOSED:
        update["close_reason"] = changes.pop("close_reason", CloseReason.RESOLVED)
    update.update(changes)
    return view.model_copy(update=update)


def event(
    cid: str,
    seq: int,
    kind: str = "step",
    *,
    step: Step = Step.PRELIMINARY_REVIEW,
    at: datetime | None = None,
    payload: dict[str, object] | None = None,
) -> CaseEvent:
    return CaseEvent(
        case_id=cid,
        seq=seq,
        at=at or NOW + timedelta(minutes=seq),
        kind=kind,
        step=step,
        actor="system",
        summary=f"{kind} #{seq}",
        payload=payload if payload is not None else {"to": str(step)},
    )


def progress(
    view: CaseView, version: int, events: Sequence[CaseEvent] = (), **projection: Any
) -> CaseProgress:
    return CaseProgress(
        projection=CaseProjection(version=version, customer_id="C-42", view=view, **projection),
        events=list(events),
    )


def step_fields(step: Step, *, at: datetime, **changes: Any) -> dict[str, Any]:
    """The changed view fields (JSON) of a move to `step`, as the workflow's delta carries them."""
    fields: dict[str, Any] = {"step": step, "status": STATUS_OF_STEP[step], "updated_at": at, **changes}
    if step == Step.CLOSED:
        fields.setdefault("close_reason", CloseReason.RESOLVED)
    return dict(to_jsonable_python(fields))


def message(cid: str, n: int, role: str = "customer", template: str = "proposal") -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=f"{cid}-notify-{n}",
        case_id=cid,
        recipient_role=role,
        template=template,
        message=f"message {n} to the {role}",
    )


def delta(
    cid: str,
    version: int,
    events: Sequence[CaseEvent] = (),
    *,
    view: dict[str, Any] | None = None,
    notifications: Sequence[OutboxMessage] = (),
    **given: Any,
) -> CaseDelta:
    return CaseDelta(
        case_id=cid,
        version=version,
        view=view or {},
        events=list(events),
        notifications=list(notifications),
        **given,
    )
