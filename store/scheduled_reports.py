"""The daily and weekly reports (seed 003; DESIGN §10): built once per working day or ISO week from
the KPIs (store/reports.py), stored, and sent to the supervisors through the outbox in the same
transaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.kpis import Grouping
from domain.models import OutboxMessage
from domain.report_days import CATCH_UP_DAYS, week_days
from store import outbox, reports
from store.common import utcnow
from store.models import ScheduledReportRow

DAILY, WEEKLY = "daily", "weekly"
# The groupings a report carries besides the whole: who and where the figures come from.
SECTIONS = {"by_merchant": ("merchant",), "by_queue": ("queue",), "by_agent": ("agent",)}


def built(session: Session, kind: str, today: date) -> set[str]:
    since = today - timedelta(days=CATCH_UP_DAYS + 7)
    return set(
        session.scalars(
            select(ScheduledReportRow.key).where(
                ScheduledReportRow.kind == kind, ScheduledReportRow.last_day >= since
            )
        )
    )


def get(session: Session, kind: str, key: str) -> ScheduledReportRow | None:
    return session.get(ScheduledReportRow, (kind, key))


def build(session: Session, kind: str, key: str, now: datetime | None = None) -> bool:
    """Build and store the report once (False when it was built before: a retried activity), and
    queue its summary for the supervisors."""
    if session.get(ScheduledReportRow, (kind, key), with_for_update=True) is not None:
        return False
    first, last = (date.fromisoformat(key), date.fromisoformat(key)) if kind == DAILY else week_days(key)
    whole = reports.compute(session, reports.KpiQuery(first, last))
    body: dict[str, Any] = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "kpis": whole[0]["kpis"] if whole else {},
    }
    for name, dims in SECTIONS.items():
        body[name] = reports.compute(session, reports.KpiQuery(first, last, Grouping(dims)))
    now = now or utcnow()
    session.add(
        ScheduledReportRow(kind=kind, key=key, first_day=first, last_day=last, built_at=now, body=body)
    )
    figures = body["kpis"]
    summary = (
        f"{kind.capitalize()} report {key}: {figures.get('cases_closed', 0)} cases closed, "
        f"FRT avg {figures.get('frt_avg_seconds')} s, CSAT {figures.get('csat_avg')}, "
        f"SLA attainment {figures.get('sla_attainment')}. GET /v1/reports/{kind}/{key}"
    )
    message = OutboxMessage(
        idempotency_key=f"report-{kind}-{key}",
        case_id=None,
        recipient_role="supervisor",
        template=f"{kind}_report",
        message=summary,
    )
    outbox.add_messages(session, [message], now)
    return True
