"""The KPIs of docs/KPIS.md (domain.kpis), computed by SQL aggregates over `report_cases` (closed
cases, by the date they closed) and `messages` (FRT, by the day a message counts on). A handful of
GROUP BY queries per report; what comes back to Python is one row per group (and step, reason code
or outcome), never a row per case or message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, and_, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, Label

from domain.kpis import KPI_KEYS, Grouping, Period, rate
from store.models import MessageRow, ReportCaseItemRow, ReportCaseRow

RC = ReportCaseRow
Key = tuple[str, ...]


@dataclass(frozen=True)
class KpiQuery:
    start: date
    end: date
    grouping: Grouping = field(default_factory=Grouping)
    merchant_id: str | None = None  # forced for a merchant
    orders: int | None = None  # order volume of the range, for complaints per 1,000 orders


def period_of(column: Any, size: Period, dialect: str) -> ColumnElement[Any]:
    """The first day of the day, ISO week (Monday) or month a date falls in."""
    if size == "day":
        return column
    if dialect == "postgresql":
        return cast(func.date_trunc(size, column), Date)
    if size == "month":
        return func.date(column, "start of month")
    back = (cast(func.strftime("%w", column), Integer) + 6) % 7  # days since Monday
    return func.date(column, func.printf("-%d days", back))


def _dims(q: KpiQuery, dialect: str, day_column: Any) -> list[Label[Any]]:
    columns: dict[str, Any] = {
        "issue_type": RC.issue_type,
        "reason": RC.reason,
        "category": RC.category,
        "merchant": RC.merchant_id,
        "channel": RC.channel,
        "queue": RC.queue,
        "agent": func.coalesce(RC.agent, "none"),
    }
    out: list[Label[Any]] = []
    for name in q.grouping.dimensions:
        column = period_of(day_column, q.grouping.period, dialect) if name == "period" else columns[name]
        out.append(column.label(f"g_{name}"))
    return out


def _key(row: Any, n: int) -> Key:
    return tuple(str(v)[:10] if isinstance(v, date) else str(v) for v in row[:n])


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _case_scope(q: KpiQuery) -> list[ColumnElement[bool]]:
    scope = [RC.closed_on.is_not(None), RC.closed_on >= q.start, RC.closed_on <= q.end]
    if q.merchant_id is not None:
        scope.append(RC.merchant_id == q.merchant_id)
    return scope


def compute(session: Session, q: KpiQuery) -> list[dict[str, Any]]:
    """One entry per group (ordered by group): `group`, `kpis` (every key of domain.kpis), and
    `unavailable` (why a KPI is null)."""
    dialect = session.get_bind().dialect.name
    dims = _dims(q, dialect, RC.closed_on)
    n = len(dims)
    scope = _case_scope(q)
    decided = RC.close_reason.in_(("resolved", "rejected"))
    first_contact = and_(
        RC.close_reason == "resolved",
        RC.appealed.is_(False),
        RC.disputed.is_(False),
        RC.second_remedy.is_(False),
    )
    measures = [
        func.count().label("cases"),
        func.sum(RC.aht_seconds),
        func.count(RC.aht_seconds),
        _count_if(decided),
        _count_if(first_contact),
        func.sum(RC.csat),
        func.count(RC.csat),
        _count_if(RC.csat >= 4),
        func.count(RC.nps),
        _count_if(RC.nps >= 9),
        _count_if(RC.nps <= 6),
        _count_if(RC.survey_sent.is_(True)),
        _count_if(RC.issue_type == "complaint"),
        func.sum(RC.platform_limits),
        func.sum(RC.platform_breaches),
        func.sum(RC.merchant_limits),
        func.sum(RC.merchant_breaches),
        func.sum(RC.refunds),
        func.sum(RC.refunded_amount),
        func.sum(RC.refund_seconds),
        func.count(RC.refund_seconds),
        _count_if(RC.close_reason == "withdrawn"),
        _count_if(RC.appealed.is_(True)),
    ]
    groups: dict[Key, dict[str, Any]] = {}

    def entry(key: Key) -> dict[str, Any]:
        if key not in groups:
            groups[key] = {"cases": None, "by_step": {}, "auto": {}, "outcomes": {}, "frt": None, "p90": None}
        return groups[key]

    for row in session.execute(select(*dims, *measures).where(*scope).group_by(*dims)):
        entry(_key(row, n))["cases"] = tuple(row[n:])
    # Limits per step, reason codes and dispute outcomes: the items of the range (their own
    # closed_on index), joined to their case for the dimensions.
    it = ReportCaseItemRow
    item_dims = _dims(q, dialect, it.closed_on)
    # The case side is range-filtered too, so it is read by its index, not scanned whole.
    item_scope = [it.closed_on >= q.start, it.closed_on <= q.end, *scope]
    items = (
        select(*item_dims, it.kind, it.name, it.party, func.sum(it.total), func.sum(it.missed))
        .join(RC, RC.case_id == it.case_id)
        .where(*item_scope)
        .group_by(*item_dims, it.kind, it.name, it.party)
    )
    for row in session.execute(items):
        kind, name, party, total, missed = row[n:]
        slot = entry(_key(row, n))
        if kind == "limit":
            slot["by_step"][name] = (party, int(total or 0), int(missed or 0))
        elif kind == "auto":
            slot["auto"][name] = int(total or 0)
        else:
            slot["outcomes"][name] = int(total or 0)
    _frt(session, q, dialect, entry)
    return [_figures(q, key, groups[key]) for key in sorted(groups)]


def _frt(session: Session, q: KpiQuery, dialect: str, entry: Any) -> None:
    m = MessageRow
    dims = _dims(q, dialect, m.counts_on)
    n = len(dims)
    scope = [m.author_party == "customer", m.counts_on >= q.start, m.counts_on <= q.end]
    if q.merchant_id is not None:
        scope.append(RC.merchant_id == q.merchant_id)
    # One pass: totals, and the nearest-rank p90 (the row ranked ceil(0.9 n) among the n answered
    # ones of its group, NULLs last) -- window functions, the same on PostgreSQL and SQLite.
    partition = [d.element for d in dims] if dims else None
    frs = m.first_response_seconds
    ranked = (
        select(
            *dims,
            frs.label("frs"),
            m.frt_breached_at.label("late"),
            func.row_number().over(partition_by=partition, order_by=frs.asc().nulls_last()).label("rn"),
            func.count(frs).over(partition_by=partition).label("n"),
        )
        .join(RC, RC.case_id == m.case_id)
        .where(*scope)
        .subquery()
    )
    r = ranked.c
    outer_dims = [r[f"g_{name}"] for name in q.grouping.dimensions]
    p90 = func.max(case((r.rn == (9 * r.n + 9) // 10, r.frs)))
    totals = select(*outer_dims, func.count(), func.count(r.frs), func.sum(r.frs), func.count(r.late), p90)
    for row in session.execute(totals.group_by(*outer_dims)):
        slot = entry(_key(row, n))
        slot["frt"] = tuple(row[n : n + 4])
        slot["p90"] = None if row[n + 4] is None else int(row[n + 4])


def _avg(total: Any, count: Any, digits: int = 1) -> float | None:
    return round(float(total) / count, digits) if count else None


def _figures(q: KpiQuery, key: Key, g: dict[str, Any]) -> dict[str, Any]:
    why: dict[str, str] = {}
    k: dict[str, Any] = dict.fromkeys(KPI_KEYS)
    c: Sequence[Any] = g["cases"] or (0,) * 23
    (
        cases, aht_sum, aht_n, decided, fcr, csat_sum, csat_n, satisfied, nps_n, promoters, detractors,
        sent, complaints, p_limits, p_missed, m_limits, m_missed, refunds, refunded, refund_s, refund_n,
        withdrawn, appealed,
    ) = (v or 0 for v in c)  # fmt: skip
    k["cases_closed"] = int(cases)
    frt = g["frt"] or (0, 0, 0, 0)
    total_msgs, answered, frs_sum, late = (int(v or 0) for v in frt)
    k["frt_answered"], k["frt_unanswered"], k["frt_breaches"] = answered, total_msgs - answered, late
    k["frt_avg_seconds"] = _avg(frs_sum, answered)
    k["frt_p90_seconds"] = g["p90"] if answered else None
    if not answered:
        reason = "no customer message with a first response counts on these days"
        why["frt_avg_seconds"] = why["frt_p90_seconds"] = reason
    k["aht_avg_seconds"] = _avg(aht_sum, aht_n)
    if not aht_n:
        why["aht_avg_seconds"] = "no closed case with a platform clock in the range"
    k["fcr_rate"] = rate(fcr, decided)
    if not decided:
        why["fcr_rate"] = "no case closed resolved or rejected in the range"
    k["csat_avg"] = _avg(csat_sum, csat_n, 2)
    k["csat_satisfied_share"] = rate(satisfied, csat_n)
    k["nps"] = round(100 * (promoters - detractors) / nps_n, 1) if nps_n else None
    if not csat_n:
        why["csat_avg"] = why["csat_satisfied_share"] = "no survey answered on the cases closed"
    if not nps_n:
        why["nps"] = "no survey answered on the cases closed"
    k["survey_response_rate"] = rate(csat_n, sent)
    if not sent:
        why["survey_response_rate"] = "no survey sent on the cases closed"
    k["complaint_rate_per_100"] = round(100 * complaints / cases, 2) if cases else None
    if q.orders and not q.grouping.dimensions:
        k["complaint_rate_per_1000_orders"] = round(1000 * complaints / q.orders, 3)
    else:
        why["complaint_rate_per_1000_orders"] = (
            "order volume not supplied (orders=)" if not q.orders else "order volume is for the whole range"
        )
    limits, missed = p_limits + m_limits, p_missed + m_missed
    k["sla_limits"], k["sla_breaches"] = int(limits), int(missed)
    k["sla_attainment"] = rate(limits - missed, limits)
    k["sla_attainment_platform"] = rate(p_limits - p_missed, p_limits)
    k["sla_attainment_merchant"] = rate(m_limits - m_missed, m_limits)
    for name, total in (("sla_attainment", limits), ("sla_attainment_platform", p_limits)):
        if not total:
            why[name] = "no limit owed by the platform or the merchant ran on the cases closed"
    if not m_limits:
        why["sla_attainment_merchant"] = "no limit owed by the merchant ran on the cases closed"
    k["sla_by_step"] = {
        step: {"party": party, "limits": t, "breaches": b, "attainment": rate(t - b, t)}
        for step, (party, t, b) in sorted(g["by_step"].items())
    }
    k["auto_decisions"] = dict(sorted(g["auto"].items()))
    k["refunds_count"] = int(refunds)
    k["refunds_amount"] = f"{Decimal(refunded or 0):.2f}"
    k["refund_time_avg_seconds"] = _avg(refund_s, refund_n)
    if not refund_n:
        why["refund_time_avg_seconds"] = "no refund after a decision on the cases closed"
    k["withdrawal_rate"] = rate(withdrawn, cases)
    k["appeal_rate"] = rate(appealed, cases)
    if not cases:
        for name in ("complaint_rate_per_100", "withdrawal_rate", "appeal_rate"):
            why[name] = "no case closed in the range"
    k["dispute_outcomes"] = dict(sorted(g["outcomes"].items()))
    return {"group": dict(zip(q.grouping.dimensions, key, strict=True)), "kpis": k, "unavailable": why}
