"""Reports (DESIGN §10, docs/KPIS.md): the KPI definitions, and the KPIs over a date range grouped by
period, issue type, reason, category, merchant, channel, queue and agent, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.auth import Identity, Reader, require
from api.deps import Context
from api.problems import Problem
from domain.enums import Actor
from domain.kpis import DIMENSIONS, KPIS, KpiDefinition, check_range, parse_group_by, parse_kpis
from store import reports, scheduled_reports
from store.report_facts import platform_zone

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class Definitions(BaseModel):
    timezone: str
    max_range_days: int
    group_by: dict[str, str]
    kpis: list[KpiDefinition]


class KpiGroup(BaseModel):
    group: dict[str, str]
    kpis: dict[str, Any]
    unavailable: dict[str, str]
    cases: str = Field(
        default="", description="the case list behind the group's case figures (GET /v1/cases filters)"
    )


# A report's dimensions as the case list's filters.
CASE_FILTERS = {
    "merchant": "merchant_id", "issue_type": "issue_type", "reason": "reason", "category": "category",
    "channel": "channel", "queue": "queue", "agent": "assigned_to",
}  # fmt: skip


def cases_link(group: dict[str, str], start: date, end: date, period: str, merchant: str | None) -> str:
    """`/v1/cases?…` listing the closed cases a group's figures count: its dimensions, its days."""
    first, last = start, end
    if "period" in group:
        begins = date.fromisoformat(group["period"])
        if period == "day":
            ends = begins
        elif period == "week":
            ends = begins + timedelta(days=6)
        else:
            ends = (begins.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        first, last = max(start, begins), min(end, ends)
    params = {"status": "closed", "closed_from": first.isoformat(), "closed_to": last.isoformat()}
    params |= {CASE_FILTERS[k]: v for k, v in group.items() if k in CASE_FILTERS and v}
    if merchant is not None:
        params["merchant_id"] = merchant
    return "/v1/cases?" + urlencode(params)


class KpiReport(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    timezone: str
    group_by: list[str]
    period: str | None
    merchant_id: str | None
    groups: list[KpiGroup]


@router.get("/definitions", response_model=Definitions)
async def definitions(ctx: Context, who: Reader) -> Definitions:
    """Every KPI's written definition (the same text as docs/KPIS.md) and the dimensions to group by."""

    def zone_name() -> str:
        with ctx.reads() as session:
            return platform_zone(session).key

    return Definitions(
        timezone=await run_in_threadpool(zone_name),
        max_range_days=ctx.settings.report_max_range_days,
        group_by=DIMENSIONS,
        kpis=list(KPIS),
    )


@router.get("/kpis", response_model=KpiReport, responses={200: {"content": {"text/csv": {}}}})
async def kpis(
    ctx: Context,
    who: Reader,
    from_: Annotated[date | None, Query(alias="from", description="first day (inclusive)")] = None,
    to: Annotated[date | None, Query(description="last day (inclusive); default today")] = None,
    group_by: Annotated[
        str | None, Query(description="e.g. `merchant,period:week`; dimensions: " + ", ".join(DIMENSIONS))
    ] = None,
    orders: Annotated[int | None, Query(ge=1, description="order volume of the range")] = None,
    kpis: Annotated[
        str | None, Query(max_length=2000, description="comma-separated KPI keys (default: all)")
    ] = None,
    merchant_id: Annotated[
        str | None, Query(max_length=64, description="one merchant's figures (a merchant: its own only)")
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """The KPIs of docs/KPIS.md over [from, to] in the platform's time zone (default: the 30 days up
    to today). A merchant gets its own figures only. `Accept: text/csv` answers CSV."""
    try:
        grouping = parse_group_by(group_by)
        selected = parse_kpis(kpis)
    except ValueError as err:
        raise Problem(422, str(err), type_="/problems/validation") from err
    if who.role == Actor.MERCHANT and merchant_id not in (None, who.merchant_id):
        raise Problem(404, f"no figures for merchant {merchant_id}")  # as if it did not exist (BOLA)
    max_days = ctx.settings.report_max_range_days

    def compute() -> KpiReport:
        with ctx.reads() as session:
            tz = platform_zone(session)
            end = to or datetime.now(UTC).astimezone(tz).date()
            start = from_ or end - timedelta(days=29)
            try:
                check_range(start, end, max_days)
            except ValueError as err:
                raise Problem(422, str(err), type_="/problems/validation") from err
            merchant = who.merchant_id if who.role == Actor.MERCHANT else merchant_id
            query = reports.KpiQuery(start, end, grouping, merchant, orders)
            groups = reports.compute(session, query)
        return KpiReport(
            from_=start,
            to=end,
            timezone=tz.key,
            group_by=list(grouping.dimensions),
            period=grouping.period if grouping.by_period else None,
            merchant_id=merchant,
            groups=[
                _only(KpiGroup.model_validate(g), selected).model_copy(
                    update={"cases": cases_link(g["group"], start, end, grouping.period, merchant)}
                )
                for g in groups
            ],
        )

    report = await run_in_threadpool(compute)
    if accept and "text/csv" in accept:
        return Response(content=as_csv(report), media_type="text/csv; charset=utf-8")
    return report


def _only(group: KpiGroup, selected: tuple[str, ...] | None) -> KpiGroup:
    """The group with only the KPIs asked for (all when none were named)."""
    if selected is None:
        return group
    return group.model_copy(
        update={
            "kpis": {k: v for k, v in group.kpis.items() if k in selected},
            "unavailable": {k: v for k, v in group.unavailable.items() if k in selected},
        }
    )


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = "" if value is None else value


def as_csv(report: KpiReport) -> str:
    """One line per group: the group's dimensions, then every KPI (nested ones as dotted columns)."""
    rows: list[dict[str, Any]] = []
    for group in report.groups:
        row: dict[str, Any] = {"from": report.from_.isoformat(), "to": report.to.isoformat(), **group.group}
        for key, value in group.kpis.items():
            _flat(key, value, row)
        rows.append(row)
    columns: list[str] = ["from", "to", *report.group_by]
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class BuiltReport(BaseModel):
    kind: str
    key: str
    from_: date = Field(serialization_alias="from")
    to: date
    built_at: datetime
    body: dict[str, Any]


ReportReader = Annotated[Identity, Depends(require(frozenset({Actor.SUPERVISOR, Actor.OPS, Actor.SYSTEM})))]


async def _built(ctx: Context, kind: str, key: str) -> BuiltReport:
    def read() -> BuiltReport | None:
        with ctx.reads() as session:
            row = scheduled_reports.get(session, kind, key)
            if row is None:
                return None
            return BuiltReport(
                kind=kind, key=key, from_=row.first_day, to=row.last_day, built_at=row.built_at, body=row.body
            )

    found = await run_in_threadpool(read)
    if found is None:
        raise Problem(404, f"no {kind} report {key} (built by the schedule report-{kind}; see docs/KPIS.md)")
    return found


@router.get("/daily/{day}", response_model=BuiltReport, response_model_by_alias=True)
async def daily_report(ctx: Context, who: ReportReader, day: date) -> BuiltReport:
    """The daily report of a working day (seed 003), built by the `report-daily` schedule on the next
    working day: the day's KPIs, and by merchant, queue and agent."""
    return await _built(ctx, "daily", day.isoformat())


@router.get("/weekly/{week}", response_model=BuiltReport, response_model_by_alias=True)
async def weekly_report(
    ctx: Context, who: ReportReader, week: Annotated[str, Path(pattern=r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")]
) -> BuiltReport:
    """The weekly report of an ISO week (`2026-W48`), built on its Friday or the eve of a Friday
    holiday by the `report-weekly` schedule."""
    return await _built(ctx, "weekly", week)
