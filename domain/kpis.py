"""The KPIs of DESIGN §10 (seeds 002 二, 003): one written definition each, the dimensions a report
groups by, and the rules of a report's date range. Pure: the store computes, the API and docs/KPIS.md
quote these texts (tests/test_kpi_definitions.py keeps the docs and this table the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import ConfigDict

from domain.modelbase import DomainModel

MAX_RANGE_DAYS = 366
Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
# Dimension name in `group_by` -> what it is.
DIMENSIONS: dict[str, str] = {
    "period": "day, week (ISO, from Monday) or month of the date a figure counts on: `period:week`",
    "issue_type": "what the customer asked for (return_and_refund, exchange, complaint, ...)",
    "reason": "the customer's reason (quality_issue, not_delivered, ...)",
    "category": "category of the first claimed order line",
    "merchant": "the merchant of the order",
    "channel": "where the case came in (app, web, hotline, chat, email)",
    "queue": "the queue the routing rules put the case in",
    "agent": "the person the case is assigned to (for a closed case: when it closed); none if nobody",
}


class KpiDefinition(DomainModel):
    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    unit: str
    counts_on: str
    definition: str


def _kpi(key: str, name: str, unit: str, counts_on: str, definition: str) -> KpiDefinition:
    return KpiDefinition(key=key, name=name, unit=unit, counts_on=counts_on, definition=definition)


CLOSED = "the date the case closed (last close, after any appeal)"
COUNTS_ON = "the working day the customer message counts on (after 18:00: the next working day, seed 003)"

KPIS: tuple[KpiDefinition, ...] = (
    _kpi(
        "cases_closed", "Closed cases", "cases", CLOSED,
        "Cases whose last close falls in the range. The base of every rate below that counts cases.",
    ),
    _kpi(
        "frt_avg_seconds", "First response time, average", "seconds (service-desk working time)", COUNTS_ON,
        "Mean of first_response_seconds over the customer messages answered by the platform: the "
        "service-desk working time (09:00-23:00) from the message to the platform's first reply. "
        "Messages not answered yet are left out (see frt_unanswered).",
    ),
    _kpi(
        "frt_p90_seconds", "First response time, 90th percentile", "seconds (service-desk working time)",
        COUNTS_ON,
        "Nearest-rank 90th percentile of the same first_response_seconds: the smallest value that at "
        "least 90 % of the answered customer messages do not exceed.",
    ),
    _kpi(
        "frt_answered", "Customer messages answered", "messages", COUNTS_ON,
        "Customer messages with a recorded first response (the FRT sample).",
    ),
    _kpi(
        "frt_unanswered", "Customer messages not answered", "messages", COUNTS_ON,
        "Customer messages with no first response recorded (yet).",
    ),
    _kpi(
        "frt_breaches", "Late first responses", "messages", COUNTS_ON,
        "Customer messages whose reply clock (15 service-desk minutes by default) ran out.",
    ),
    _kpi(
        "aht_avg_seconds", "Average handling time", "seconds (business-calendar working time)", CLOSED,
        "Mean, over closed cases, of the case's platform clock at close: the working time of the "
        "business calendar during which the platform or the merchant owed the next move. The clock "
        "stops while the case waits on the customer (information, decision, return shipment), on the "
        "carrier (parcel in transit) or on the survey (follow-up), and while the case is frozen; it "
        "is not the wall time between opening and closing.",
    ),
    _kpi(
        "fcr_rate", "First-contact resolution", "share 0-1", CLOSED,
        "Closed cases resolved (close reason resolved) without an appeal (which reopens the case), "
        "without escalation to the dispute team and without a second remedy (a second proposal after "
        "the customer or the supervisor sent the first back), divided by the closed cases the "
        "platform decided (close reason resolved or rejected).",
    ),
    _kpi(
        "csat_avg", "CSAT, mean", "score 1-5", CLOSED,
        "Mean CSAT (1-5) of the surveys answered on the closed cases (the last answer of a case).",
    ),
    _kpi(
        "csat_satisfied_share", "CSAT, share satisfied", "share 0-1", CLOSED,
        "Share of those surveys with CSAT 4 or 5.",
    ),
    _kpi(
        "nps", "Net promoter score", "points -100..100", CLOSED,
        "Per cent of answered surveys with NPS 9-10 (promoters) minus per cent with 0-6 (detractors).",
    ),
    _kpi(
        "survey_response_rate", "Survey response rate", "share 0-1", CLOSED,
        "Closed cases with an answered survey divided by closed cases that were sent one (reached "
        "follow-up).",
    ),
    _kpi(
        "complaint_rate_per_100", "Complaint rate", "complaints per 100 cases", CLOSED,
        "Closed cases of issue type complaint per 100 closed cases.",
    ),
    _kpi(
        "complaint_rate_per_1000_orders", "Complaint rate per orders", "complaints per 1,000 orders",
        CLOSED,
        "Closed complaint cases per 1,000 orders, when the caller supplies the order volume of the "
        "range (`orders=`); only for a report not grouped by anything but period.",
    ),
    _kpi(
        "sla_limits", "Limits run", "limits", CLOSED,
        "Limits owed by the platform or the merchant (DESIGN §8) on the closed cases: one per entry "
        "into a step the platform or the merchant owes, plus the case's platform clock. Customer, "
        "carrier and dispute-evidence limits are not SLA limits and are not counted.",
    ),
    _kpi(
        "sla_attainment", "SLA attainment", "share 0-1", CLOSED,
        "Limits met (not breached) divided by limits run; also per party (sla_attainment_platform, "
        "sla_attainment_merchant) and per step (sla_by_step: limits, breaches, attainment, party).",
    ),
    _kpi(
        "sla_breaches", "SLA breaches", "breaches", CLOSED,
        "Breaches recorded on the closed cases (each breach once, DESIGN §8); per step in sla_by_step.",
    ),
    _kpi(
        "auto_decisions", "Automatic decisions by reason code", "decisions per reason code", CLOSED,
        "What the system decided on its own when a limit ran out or a rule applied, by reason code "
        "(merchant_timeout_auto_accept, customer_timeout_first_option, inspection_timeout_auto_pass, "
        "refund_on_return_scan, ...), over the closed cases.",
    ),
    _kpi(
        "refunds_count", "Refunds", "refunds", CLOSED,
        "Refunds paid on the closed cases (refunded events of the audit trail).",
    ),
    _kpi(
        "refunds_amount", "Refunded amount", "CNY (decimal string)", CLOSED,
        "Sum of those refunds.",
    ),
    _kpi(
        "refund_time_avg_seconds", "Decision to refund", "seconds (calendar time)", CLOSED,
        "Mean calendar time from the decision (the customer's acceptance, automatic or not, or the "
        "dispute ruling) to the case's first refund, over closed cases with a refund.",
    ),
    _kpi(
        "withdrawal_rate", "Withdrawal rate", "share 0-1", CLOSED,
        "Closed cases the customer withdrew divided by closed cases.",
    ),
    _kpi(
        "appeal_rate", "Appeal rate", "share 0-1", CLOSED,
        "Closed cases that were appealed (and closed again) divided by closed cases.",
    ),
    _kpi(
        "dispute_outcomes", "Dispute outcomes", "cases per resolution", CLOSED,
        "Closed cases the dispute team decided, by the resolution of its last ruling (an automatic "
        "judgment counts with the prefix auto:).",
    ),
)  # fmt: skip

KPI_KEYS = tuple(k.key for k in KPIS)


@dataclass(frozen=True)
class Grouping:
    """What a report groups by: dimension names in the order given, and the period's size."""

    dimensions: tuple[str, ...] = ()
    period: Period = "day"

    @property
    def by_period(self) -> bool:
        return "period" in self.dimensions


def parse_group_by(text: str | None) -> Grouping:
    """`merchant,period:week` -> Grouping(("merchant", "period"), "week"). Raises ValueError."""
    if not text or not text.strip():
        return Grouping()
    names: list[str] = []
    period: Period = "day"
    for raw in text.split(","):
        part = raw.strip()
        name, _, size = part.partition(":")
        if name not in DIMENSIONS:
            raise ValueError(f"group_by: unknown dimension {name!r}; known: {', '.join(DIMENSIONS)}")
        if name in names:
            raise ValueError(f"group_by: {name} given twice")
        if size and name != "period":
            raise ValueError(f"group_by: only period takes a size ({part!r})")
        if name == "period" and size:
            if size not in PERIODS:
                raise ValueError(f"group_by: period size {size!r}; known: {', '.join(PERIODS)}")
            period = size
        names.append(name)
    return Grouping(tuple(names), period)


def check_range(start: date, end: date, max_days: int = MAX_RANGE_DAYS) -> None:
    """Both dates inclusive; raises ValueError (naming the field) for a reversed or too long range."""
    if end < start:
        raise ValueError(f"to: {end} is before from ({start})")
    days = (end - start).days + 1
    if days > max_days:
        raise ValueError(f"from: the range covers {days} days; at most {max_days}")


def parse_kpis(text: str | None) -> tuple[str, ...] | None:
    """`kpis=frt_avg_seconds,csat_mean`: the KPIs to answer (None: all); ValueError naming `kpis`."""
    if text is None:
        return None
    known = {kpi.key for kpi in KPIS}
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(
            f"kpis: unknown KPI {unknown[0]!r} (see /v1/reports/definitions)" if unknown else "kpis: empty"
        )
    return names


def rate(part: int | float | None, whole: int | float | None) -> float | None:
    return None if not whole or part is None else round(float(part) / float(whole), 4)


def markdown() -> str:
    """The definitions as docs/KPIS.md lists them:
    `python -c 'import domain.kpis as k; print(k.markdown())'`."""
    lines = []
    for kpi in KPIS:
        lines += [
            f"### `{kpi.key}` — {kpi.name}",
            "",
            f"*Unit:* {kpi.unit}. *Counts on:* {kpi.counts_on}.",
            "",
        ]
        lines += [kpi.definition, ""]
    return "\n".join(lines)
