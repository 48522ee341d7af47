"""Published limits, deadline calculator, calendar changes and holiday freezes (DESIGN §3, 001 §7.1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field
from temporalio.client import Client

from activities.calendars import overrides_for
from api.auth import Admin
from api.deps import AppContext, Context
from api.problems import Problem
from domain import calendar as cal
from domain.calendar_source import DEFAULT_CALENDARS, WorkingHours, build_snapshot
from domain.models import EARLIEST, LATEST, OrderDatetime
from domain.policy import DEFAULT_POLICY, StepLimit
from domain.policy_docs import ResolvedPolicy
from domain.steps import spec_of
from domain.tiers import ApprovalTier
from services import policies as policy_service
from services.calendar_admin import Applied, CalendarAdmin, HoursInForce, Scope

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
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


class VersionInForce(BaseModel):
    level: str
    merchant_id: str | None
    category: str | None
    version: int
    effective_from: datetime


class PolicyDocument(BaseModel):
    policy: str
    version: str = Field(description="the versions in force, most specific last (`default`: none stored)")
    effective_from: datetime | None = Field(description="when the newest version in force took effect")
    versions: list[VersionInForce]
    provenance: dict[str, str] = Field(
        description="per field (limits per step), the level it came from: `default`, `platform vN`, "
        "`merchant M vN` or `merchant M category C vN`"
    )
    excluded_categories: list[str] = Field(description="excluded from no-reason returns (change of mind)")
    approval_tiers: list[ApprovalTier]
    refund_on_scan_max: dict[str, str]
    carrier_scans: bool = Field(description="returns move on the carrier's tracking scans")
    limits: list[PublishedLimit]
    # The platform's own handling time, intake to resolution, paused while waiting on the customer.
    platform_limit: PublishedLimit
    calendars: dict[str, str]
    refund_approval_threshold: dict[str, str]
    compensation_approval_threshold: dict[str, str]
    compensation_cap: dict[str, str]
    after_sales_windows_days: dict[str, int]
    appeal_window_days: int
    first_response_minutes: int = Field(
        description="the platform answers a customer message within this much service-desk time"
    )
    priority: PublishedPriority


class PublishedPriority(BaseModel):
    """How a case's priority is derived and what it does to the limits (DESIGN §9)."""

    factors: dict[str, Decimal] = Field(
        description="per priority, the factor on the hours of every limit the platform or the merchant "
        "owes (and of the platform limit); customer, carrier and evidence limits are never shortened"
    )
    min_hours: Decimal = Field(
        description="no limit is shortened below this (a shorter one keeps its length)"
    )
    high_amount: dict[str, str] = Field(description="paid for the claimed lines at or above this: high")
    repeat_claimant_days: int
    repeat_claimant_cases: int = Field(description="this many cases of the customer within the days: high")
    raised_by: list[str]


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
async def policies(
    ctx: Context,
    merchant_id: Annotated[str | None, Query(max_length=64, pattern=IDENTIFIER)] = None,
    category: Annotated[str | None, Query(max_length=64, pattern=IDENTIFIER)] = None,
    at: Annotated[OrderDatetime | None, Query(description="default: now")] = None,
) -> PolicyDocument:
    """The policy a case of this merchant and category starts on now (or `at`), published to
    customers (001 §7.1 向客户公示): the version in force of each level (platform, merchant,
    merchant+category; the most specific wins, field by field) and where each value came from; each
    step's limit and calendar, and how priority shortens the limits the platform and the merchant owe."""
    when = at or datetime.now(UTC)

    def read() -> ResolvedPolicy:
        with ctx.reads() as session:
            return policy_service.in_force(session, merchant_id, category, when, DEFAULT_POLICY)

    resolved = await run_in_threadpool(read)
    p = resolved.policy
    rules = ctx.settings.priority_rules
    return PolicyDocument(
        policy=p.name,
        version=resolved.version,
        effective_from=resolved.effective_from,
        versions=[VersionInForce.model_validate(v.model_dump()) for v in resolved.versions],
        provenance=resolved.provenance,
        excluded_categories=list(p.excluded_categories),
        approval_tiers=list(p.approval_tiers),
        refund_on_scan_max=p.refund_on_scan_max.model_dump(mode="json"),
        carrier_scans=p.carrier_scans,
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
        first_response_minutes=p.first_response_minutes,
        priority=PublishedPriority(
            factors=dict(p.priority_factors),
            min_hours=p.priority_min_hours,
            high_amount=rules.high_amount.model_dump(mode="json"),
            repeat_claimant_days=rules.repeat_days,
            repeat_claimant_cases=rules.repeat_cases,
            raised_by=[
                "complaint (issue_type complaint): high",
                "claimed amount at or above high_amount: high",
                "repeat claimant (the customer's cases within repeat_claimant_days): high",
                "VIP order (order.vip): high",
                "two or more of these: urgent",
                "the caller's priority is the floor",
            ],
        ),
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
        with ctx.reads() as session:
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
    applied = await _admin(ctx).add_override(name, change.date, change.kind, change.merchant_id, change.note)
    return _answer(applied)


@router.get("/calendars/{name}/hours", response_model=CalendarHours)
async def hours(ctx: Context, name: CalendarName, merchant_id: MerchantId = None) -> CalendarHours:
    """The working hours a calendar counts for a merchant (or the platform): stored or standard."""
    _known(name)
    return _hours_view(await run_in_threadpool(_admin(ctx).hours, name, merchant_id))


@router.put("/admin/calendars/{name}/hours", response_model=HoursChanged)
async def set_hours(ctx: Context, who: Admin, name: CalendarName, change: HoursChange) -> HoursChanged:
    """Store other working hours for a merchant (or platform-wide) and move running deadlines."""
    _known(name)
    applied = await _admin(ctx).set_hours(name, change, change.merchant_id, change.note)
    return HoursChanged(hours=_hours_view(applied.result), cases=_answer(applied))


@router.delete("/admin/calendars/{name}/hours", response_model=HoursCleared)
async def clear_hours(
    ctx: Context, who: Admin, name: CalendarName, merchant_id: MerchantId = None
) -> HoursCleared:
    """Back to the platform's (or the standard) hours. Idempotent: when none are stored for that
    scope (`removed: false`) the open cases in scope are still signalled, so repeating a DELETE
    that answered 503 completes it."""
    _known(name)
    applied = await _admin(ctx).clear_hours(name, merchant_id)
    cleared = applied.result
    return HoursCleared(hours=_hours_view(cleared.remaining), cases=_answer(applied), removed=cleared.removed)


def _known(name: str) -> None:
    if name not in DEFAULT_CALENDARS:
        raise Problem(404, f"no calendar {name!r}; known: {', '.join(DEFAULT_CALENDARS)}")


def _hours_view(found: HoursInForce) -> CalendarHours:
    return CalendarHours(
        calendar=found.calendar, merchant_id=found.merchant_id, source=found.source, hours=found.hours,
        standard=found.standard,
    )  # fmt: skip


@router.get("/admin/freezes", response_model=list[FreezeInForce])
async def freezes(ctx: Context, who: Admin) -> list[FreezeInForce]:
    """The freezes in force; cases opened meanwhile in their scope start frozen."""
    return [
        FreezeInForce(
            merchant_id=row.merchant_id, region=row.region, reason=row.reason,
            started_by=row.started_by, started_at=row.started_at,
        )
        for row in await run_in_threadpool(_admin(ctx).freezes)
    ]  # fmt: skip


@router.post("/admin/freeze", response_model=SignalledCases)
async def freeze(ctx: Context, who: Admin, body: Freeze) -> SignalledCases:
    """Pause every running clock of a merchant, a region or the platform (e.g. over Spring Festival);
    cases opened in that scope until the thaw start frozen."""
    return _answer(await _admin(ctx).freeze(Scope(body.merchant_id, body.region), body.reason, who.actor))


@router.post("/admin/thaw", response_model=ThawedCases)
async def thaw(ctx: Context, who: Admin, body: Freeze) -> ThawedCases:
    """End the freeze of this scope and resume the clocks it paused; the time already used is kept.

    A case that another freeze still covers (the platform's, say, when one region thaws) stays frozen
    until that one thaws too; `still_frozen` counts them."""
    applied = await _admin(ctx).thaw(Scope(body.merchant_id, body.region))
    thawed = _answer(applied, still_frozen=applied.result)
    return ThawedCases(**thawed.model_dump(), still_frozen=applied.result)


def _admin(ctx: AppContext) -> CalendarAdmin:
    async def temporal() -> Client:
        return ctx.gateway.client

    return CalendarAdmin(ctx.sessions, temporal, ctx.gateway.rpc_timeout)


def _answer(applied: Applied[Any], **extra: object) -> SignalledCases:
    """The open cases in scope were told what was just stored; or, when Temporal cannot be reached (or
    refuses a signal), 503 saying what is stored and how many cases were and were not told: the change
    stays stored, and repeating the request, which is idempotent, signals them all again."""
    outcome, scope, stored, signal = applied.outcome, str(applied.scope), applied.stored, applied.signal
    if outcome is None:  # not asked to signal (the API always asks)
        return SignalledCases(signalled=0, skipped=0, scope=scope)
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
