"""Published limits, deadline calculator, calendar changes and holiday freezes (DESIGN §3, 001 §7.1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from activities.calendars import effective_hours, overrides_for
from api.auth import Admin
from api.deps import AppContext, Context
from api.problems import Problem
from core.case_signals import SignalOutcome, signal_open_cases
from domain import calendar as cal
from domain.calendar_source import DEFAULT_CALENDARS, WorkingHours, build_snapshot
from domain.models import EARLIEST, LATEST
from domain.policy import DEFAULT_POLICY, StepLimit
from domain.steps import spec_of
from store import listing
from store.calendars import (
    add_calendar_override,
    clear_calendar_hours,
    get_calendar_hours,
    set_calendar_hours,
)
from store.freezes import end_freeze, list_freezes, start_freeze

router = APIRouter(prefix="/v1", tags=["calendar"])
CalendarName = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$", examples=["business"])]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
MerchantId = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)]


class PublishedLimit(BaseModel):
    step: str
    limit: str
    hours: Decimal
    basis: str
    calendar: str
    on_breach: str
    who_acts: str
    owed_by: str = Field(
        description="who owes the next move: a platform or merchant limit missed is an SLA breach; "
        "a customer's, the carrier's or the dispute parties' ends in an expiry or automatic decision"
    )


class PolicyDocument(BaseModel):
    policy: str
    version: str
    limits: list[PublishedLimit]
    # The platform's own handling time, intake to resolution, paused while waiting on the customer.
    platform_limit: PublishedLimit
    calendars: dict[str, str]
    refund_approval_threshold: dict[str, str]
    compensation_approval_threshold: dict[str, str]
    compensation_cap: dict[str, str]
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
    """Which cases: one merchant's, one region's, both (a merchant in a region), or every open case."""

    model_config = {"extra": "forbid"}

    merchant_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    region: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN, examples=["CN-GD"])
    reason: str = Field(default="holiday freeze", max_length=200)


class FreezeInForce(BaseModel):
    merchant_id: str | None
    region: str | None
    reason: str
    started_by: str
    started_at: datetime


class SignalledCases(BaseModel):
    signalled: int = Field(description="open cases that received the signal")
    skipped: int = Field(description="cases the store had open that had closed meanwhile")
    scope: str


class ThawedCases(SignalledCases):
    still_frozen: int = Field(description="open cases of the scope that another freeze still covers")


class HoursChange(WorkingHours):
    merchant_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    note: str = Field(default="", max_length=200)


class CalendarHours(BaseModel):
    calendar: str
    merchant_id: str | None
    source: Literal["merchant", "platform", "standard"]
    hours: WorkingHours | None = Field(description="stored hours; null when the standard hours apply")
    standard: str


class HoursChanged(BaseModel):
    hours: CalendarHours
    cases: SignalledCases


class HoursCleared(HoursChanged):
    removed: bool = Field(
        description="false when no hours were stored for the scope (already cleared): the open cases "
        "in scope are signalled anyway, so repeating a DELETE that answered 503 completes it"
    )


@router.get("/policies", response_model=PolicyDocument)
async def policies() -> PolicyDocument:
    """Each step's limit and calendar, published to customers (001 §7.1 向客户公示)."""
    p = DEFAULT_POLICY
    return PolicyDocument(
        policy=p.name,
        version=p.version,
        limits=[_published(str(step), limit, spec_of(step).party) for step, limit in p.limits.items()],
        platform_limit=_published("platform", p.platform_limit, "platform"),
        calendars=dict(DEFAULT_CALENDARS),
        refund_approval_threshold=p.refund_approval_threshold.model_dump(mode="json"),
        compensation_approval_threshold=p.compensation_approval_threshold.model_dump(mode="json"),
        compensation_cap=p.compensation_cap.model_dump(mode="json"),
        after_sales_windows_days={
            "no_reason_return": p.no_reason_return_days,
            "quality_exchange": p.quality_exchange_days,
            "warranty_repair": p.warranty_days,
        },
        appeal_window_days=p.appeal_window_days,
    )


def _published(step: str, limit: StepLimit, owed_by: str | None) -> PublishedLimit:
    return PublishedLimit(
        step=step,
        limit=limit.describe(),
        hours=limit.hours,
        basis=limit.basis,
        calendar=limit.calendar if limit.basis == "working" else "calendar hours",
        on_breach=limit.on_breach,
        who_acts=limit.who_acts,
        owed_by=owed_by or "nobody",
    )


@router.get("/calendars/{name}/deadline", response_model=Deadline)
async def deadline(
    ctx: Context,
    name: CalendarName,
    start: Annotated[AwareDatetime, Query(description="ISO 8601 with offset")],
    hours: Annotated[Decimal, Query(gt=0, le=10000, max_digits=10, decimal_places=4)],
    merchant_id: MerchantId = None,
) -> Deadline:
    """When an answer is due: `hours` working hours of calendar `name` after `start`.

    The calendar answers from 2000 to 2100 (its holiday data); a start or a due date outside that is 422."""
    _known(name)
    if not EARLIEST <= start < LATEST:
        raise Problem(422, f"start must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    begin = start.date() - timedelta(days=2)
    # Enough days for the working hours asked (a calendar works at least a few hours a week).
    end = begin + timedelta(days=max(400, int(hours) // 2 + 400))
    if end >= LATEST.date():
        raise Problem(422, f"the calendar answers up to {LATEST:%Y-%m-%d}: start earlier or ask fewer hours")

    def compute() -> Deadline:
        with ctx.sessions() as session:
            overrides = overrides_for(session, name, merchant_id)
        snapshot = build_snapshot(name, begin, end, overrides)
        counting = cal.counting_start(snapshot, start)
        due = cal.add_working_hours(snapshot, start, timedelta(seconds=float(hours * 3600)))
        return Deadline(due=due, calendar=name, calendar_version=snapshot.version, counting_from=counting)

    try:
        return await run_in_threadpool(compute)
    except (ValueError, OverflowError) as err:
        raise Problem(422, str(err)) from err


@router.post("/admin/calendars/{name}/overrides", response_model=SignalledCases, status_code=201)
async def add_override(
    ctx: Context, who: Admin, name: CalendarName, change: CalendarChange
) -> SignalledCases:
    """Add a holiday (or an extra working day) and move the deadlines of running cases it affects."""
    _known(name)

    def store() -> None:
        with ctx.sessions.begin() as session:
            add_calendar_override(session, name, change.merchant_id, change.date, change.kind, change.note)

    await run_in_threadpool(store)
    stored = f"{change.date} as a {change.kind} day in calendar {name} {_for(change.merchant_id)}"
    return await _signal(ctx, stored, "calendar_changed", None, change.merchant_id, None)


@router.get("/calendars/{name}/hours", response_model=CalendarHours)
async def hours(ctx: Context, name: CalendarName, merchant_id: MerchantId = None) -> CalendarHours:
    """The working hours a calendar counts for a merchant (or the platform): stored or standard."""
    _known(name)

    def read() -> CalendarHours:
        with ctx.sessions() as session:
            return _hours_view(session, name, merchant_id)

    return await run_in_threadpool(read)


@router.put("/admin/calendars/{name}/hours", response_model=HoursChanged)
async def set_hours(ctx: Context, who: Admin, name: CalendarName, change: HoursChange) -> HoursChanged:
    """Store other working hours for a merchant (or platform-wide) and move running deadlines."""
    _known(name)

    def store() -> CalendarHours:
        with ctx.sessions.begin() as session:
            set_calendar_hours(
                session,
                name,
                change.merchant_id,
                change.weekly,
                change.workday_periods,
                change.timezone,
                change.note,
            )
            return _hours_view(session, name, change.merchant_id)

    stored = await run_in_threadpool(store)
    what = f"the working hours of calendar {name} {_for(change.merchant_id)}"
    cases = await _signal(ctx, what, "calendar_changed", None, change.merchant_id, None)
    return HoursChanged(hours=stored, cases=cases)


@router.delete("/admin/calendars/{name}/hours", response_model=HoursCleared)
async def clear_hours(
    ctx: Context, who: Admin, name: CalendarName, merchant_id: MerchantId = None
) -> HoursCleared:
    """Back to the platform's (or the standard) hours. Idempotent: when none are stored for that
    scope (`removed: false`) the open cases in scope are still signalled, so repeating a DELETE
    that answered 503 completes it."""
    _known(name)

    def clear() -> tuple[bool, CalendarHours]:
        with ctx.sessions.begin() as session:
            removed = clear_calendar_hours(session, name, merchant_id)
            return removed, _hours_view(session, name, merchant_id)

    removed, remaining = await run_in_threadpool(clear)
    what = f"the removal of the working hours of calendar {name} {_for(merchant_id)}"
    cases = await _signal(ctx, what, "calendar_changed", None, merchant_id, None)
    return HoursCleared(hours=remaining, cases=cases, removed=removed)


def _known(name: str) -> None:
    if name not in DEFAULT_CALENDARS:
        raise Problem(404, f"no calendar {name!r}; known: {', '.join(DEFAULT_CALENDARS)}")


def _hours_view(session: Session, name: str, merchant_id: str | None) -> CalendarHours:
    own = merchant_id is not None and get_calendar_hours(session, name, merchant_id) is not None
    found = effective_hours(session, name, merchant_id)
    source = "merchant" if own else "platform" if found is not None else "standard"
    return CalendarHours(
        calendar=name, merchant_id=merchant_id, source=source, hours=found, standard=DEFAULT_CALENDARS[name]
    )


@router.get("/admin/freezes", response_model=list[FreezeInForce])
async def freezes(ctx: Context, who: Admin) -> list[FreezeInForce]:
    """The freezes in force; cases opened meanwhile in their scope start frozen."""

    def read() -> list[FreezeInForce]:
        with ctx.sessions() as session:
            return [
                FreezeInForce(
                    merchant_id=row.merchant_id, region=row.region, reason=row.reason,
                    started_by=row.started_by, started_at=row.started_at,
                )
                for row in list_freezes(session)
            ]  # fmt: skip

    return await run_in_threadpool(read)


@router.post("/admin/freeze", response_model=SignalledCases)
async def freeze(ctx: Context, who: Admin, body: Freeze) -> SignalledCases:
    """Pause every running clock of a merchant, a region or the platform (e.g. over Spring Festival);
    cases opened in that scope until the thaw start frozen."""

    def store() -> None:
        with ctx.sessions.begin() as session:
            start_freeze(session, body.merchant_id, body.region, body.reason, who.actor)

    await run_in_threadpool(store)  # first: a case starting now reads it, or is already signalled
    what = f"the freeze of {_scope(body.merchant_id, body.region)} ({body.reason})"
    return await _signal(ctx, what, "freeze", body.reason, body.merchant_id, body.region)


@router.post("/admin/thaw", response_model=ThawedCases)
async def thaw(ctx: Context, who: Admin, body: Freeze) -> ThawedCases:
    """End the freeze of this scope and resume the clocks it paused; the time already used is kept.

    A case that another freeze still covers (the platform's, say, when one region thaws) stays frozen
    until that one thaws too; `still_frozen` counts them."""

    def store() -> int:
        with ctx.sessions.begin() as session:
            end_freeze(session, body.merchant_id, body.region)
            return len(
                listing.open_case_workflow_ids(
                    session, merchant_id=body.merchant_id, region=body.region, frozen=True
                )
            )

    still_frozen = await run_in_threadpool(store)
    what = f"the end of the freeze of {_scope(body.merchant_id, body.region)}"
    thawed = await _signal(
        ctx, what, "thaw", None, body.merchant_id, body.region, frozen=False, still_frozen=still_frozen
    )
    return ThawedCases(**thawed.model_dump(), still_frozen=still_frozen)


async def _signal(
    ctx: AppContext,
    stored: str,
    signal: str,
    arg: object,
    merchant_id: str | None,
    region: str | None,
    frozen: bool | None = None,
    **extra: object,
) -> SignalledCases:
    """Tell the open cases in scope what was just `stored`. When Temporal cannot be reached (or
    refuses a signal), answer 503 saying what is stored and how many cases were and were not told:
    the change stays stored, and repeating the request, which is idempotent, signals them all again."""
    outcome: SignalOutcome = await signal_open_cases(
        ctx.gateway.client, ctx.sessions, signal, arg, merchant_id=merchant_id, region=region,
        frozen=frozen, rpc_timeout=ctx.gateway.rpc_timeout,
    )  # fmt: skip
    scope = _scope(merchant_id, region)
    if not outcome.complete:
        in_scope = outcome.signalled + outcome.skipped + outcome.failed
        raise Problem(
            503,
            f"{stored} is stored, but {outcome.failed} of the {in_scope} open case(s) in scope were not "
            f"signalled ({signal}): the workflow service is unavailable ({outcome.error}). Repeat the "
            "same request when it is back: it is idempotent and signals every case in scope again.",
            type_="/problems/cases-not-signalled",
            headers={"Retry-After": "5"},
            stored=stored,
            signalled=outcome.signalled,
            skipped=outcome.skipped,
            not_signalled=outcome.failed,
            scope=scope,
            **extra,
        )
    return SignalledCases(signalled=outcome.signalled, skipped=outcome.skipped, scope=scope)


def _scope(merchant_id: str | None, region: str | None) -> str:
    parts = [f"merchant {merchant_id}" if merchant_id else "", f"region {region}" if region else ""]
    return " in ".join(p for p in parts if p) or "every open case"


def _for(merchant_id: str | None) -> str:
    return f"for merchant {merchant_id}" if merchant_id else "platform-wide"
