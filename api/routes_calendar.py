"""Published limits, deadline calculator, calendar changes and holiday freezes (DESIGN §3, 001 §7.1)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field

from activities.calendars import overrides_for
from api.auth import Admin
from api.deps import Context
from api.problems import Problem
from domain import calendar as cal
from domain.calendar_source import DEFAULT_CALENDARS, build_snapshot
from domain.policy import DEFAULT_POLICY, StepLimit
from store import repository

router = APIRouter(prefix="/v1", tags=["calendar"])
CalendarName = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$", examples=["business"])]
MerchantId = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
SIGNAL_CONCURRENCY = 20


class PublishedLimit(BaseModel):
    step: str
    limit: str
    hours: Decimal
    basis: str
    calendar: str
    on_breach: str
    who_acts: str


class PolicyDocument(BaseModel):
    policy: str
    version: str
    limits: list[PublishedLimit]
    # The platform's own handling time, intake to resolution, paused while waiting on the customer.
    platform_limit: PublishedLimit
    calendars: dict[str, str]
    refund_approval_threshold: dict[str, str]
    compensation_approval_threshold: dict[str, str]
    after_sales_windows_days: dict[str, int]
    appeal_window_days: int


class Deadline(BaseModel):
    due: datetime
    calendar: str
    calendar_version: str
    counting_from: datetime


class CalendarChange(BaseModel):
    model_config = {"extra": "forbid"}

    date: date
    kind: Literal["closed", "working"] = "closed"
    merchant_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    note: str = Field(default="", max_length=200)


class Freeze(BaseModel):
    model_config = {"extra": "forbid"}

    merchant_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    reason: str = Field(default="holiday freeze", max_length=200)


class SignalledCases(BaseModel):
    signalled: int
    query: str


@router.get("/policies", response_model=PolicyDocument)
async def policies() -> PolicyDocument:
    """Each step's limit and calendar, published to customers (001 §7.1 向客户公示)."""
    p = DEFAULT_POLICY
    return PolicyDocument(
        policy=p.name,
        version=p.version,
        limits=[_published(str(step), limit) for step, limit in p.limits.items()],
        platform_limit=_published("platform", p.platform_limit),
        calendars=dict(DEFAULT_CALENDARS),
        refund_approval_threshold=p.refund_approval_threshold.model_dump(mode="json"),
        compensation_approval_threshold=p.compensation_approval_threshold.model_dump(mode="json"),
        after_sales_windows_days={
            "no_reason_return": p.no_reason_return_days,
            "quality_exchange": p.quality_exchange_days,
            "warranty_repair": p.warranty_days,
        },
        appeal_window_days=p.appeal_window_days,
    )


def _published(step: str, limit: StepLimit) -> PublishedLimit:
    return PublishedLimit(
        step=step,
        limit=limit.describe(),
        hours=limit.hours,
        basis=limit.basis,
        calendar=limit.calendar if limit.basis == "working" else "calendar hours",
        on_breach=limit.on_breach,
        who_acts=limit.who_acts,
    )


@router.get("/calendars/{name}/deadline", response_model=Deadline)
async def deadline(
    ctx: Context,
    name: CalendarName,
    start: Annotated[AwareDatetime, Query(description="ISO 8601 with offset")],
    hours: Annotated[Decimal, Query(gt=0, le=10000, max_digits=10, decimal_places=4)],
    merchant_id: MerchantId = None,
) -> Deadline:
    """When an answer is due: `hours` working hours of calendar `name` after `start`."""
    if name not in DEFAULT_CALENDARS:
        raise Problem(404, f"no calendar {name!r}; known: {', '.join(DEFAULT_CALENDARS)}")

    def compute() -> Deadline:
        with ctx.sessions() as session:
            overrides = overrides_for(session, name, merchant_id)
        begin = start.date() - timedelta(days=2)
        snapshot = build_snapshot(
            name, begin, begin + timedelta(days=max(400, int(hours) // 2 + 400)), overrides
        )
        counting = cal.counting_start(snapshot, start)
        due = cal.add_working_hours(snapshot, start, timedelta(seconds=float(hours * 3600)))
        return Deadline(due=due, calendar=name, calendar_version=snapshot.version, counting_from=counting)

    try:
        return await run_in_threadpool(compute)
    except ValueError as err:
        raise Problem(422, str(err)) from err


@router.post("/admin/calendars/{name}/overrides", response_model=SignalledCases, status_code=201)
async def add_override(
    ctx: Context, who: Admin, name: CalendarName, change: CalendarChange
) -> SignalledCases:
    """Add a holiday (or an extra working day) and move the deadlines of running cases it affects."""
    if name not in DEFAULT_CALENDARS:
        raise Problem(404, f"no calendar {name!r}; known: {', '.join(DEFAULT_CALENDARS)}")

    def store() -> None:
        with ctx.sessions.begin() as session:
            repository.add_calendar_override(
                session, name, change.merchant_id, change.date, change.kind, change.note
            )

    await run_in_threadpool(store)
    query = 'WorkflowType="CaseWorkflow" AND ExecutionStatus="Running"'
    if change.merchant_id:
        query += f' AND MerchantId="{change.merchant_id}"'
    return SignalledCases(signalled=await _signal_all(ctx, query, "calendar_changed", None), query=query)


@router.post("/admin/freeze", response_model=SignalledCases)
async def freeze(ctx: Context, who: Admin, body: Freeze) -> SignalledCases:
    """Pause every running clock of a merchant or of the platform (e.g. over Spring Festival)."""
    query = _scope(body)
    return SignalledCases(signalled=await _signal_all(ctx, query, "freeze", body.reason), query=query)


@router.post("/admin/thaw", response_model=SignalledCases)
async def thaw(ctx: Context, who: Admin, body: Freeze) -> SignalledCases:
    """Resume the clocks a freeze paused; the time already used is kept."""
    query = _scope(body)
    return SignalledCases(signalled=await _signal_all(ctx, query, "thaw", None), query=query)


def _scope(body: Freeze) -> str:
    query = 'WorkflowType="CaseWorkflow" AND ExecutionStatus="Running"'
    if body.merchant_id:
        query += f' AND MerchantId="{body.merchant_id}"'
    return query


async def _signal_all(ctx: Context, query: str, signal: str, arg: object) -> int:
    client = ctx.gateway.client
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def one(workflow_id: str) -> None:
        async with gate:
            handle = client.get_workflow_handle(workflow_id)
            if arg is None:
                await handle.signal(signal)
            else:
                await handle.signal(signal, arg)

    ids = [wf.id async for wf in client.list_workflows(query)]
    await asyncio.gather(*(one(workflow_id) for workflow_id in ids))
    return len(ids)
