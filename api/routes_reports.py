"""KPIs of seed 002 from the case store: volume, resolution, breaches, satisfaction."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import func, select

from api.auth import Actor, Reader
from api.deps import Context
from domain.audit import EventKind, SurveyPayload
from domain.enums import CaseStatus
from store.audit import typed_payload
from store.models import CaseRow, EventRow

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class Kpis(BaseModel):
    cases: int
    by_status: dict[str, int]
    closed_by_reason: dict[str, int]
    sla_breach_rate: float | None
    average_handling_hours: float | None
    csat_average: float | None
    nps: float | None
    surveys: int


@router.get("/kpis", response_model=Kpis)
async def kpis(ctx: Context, who: Reader) -> Kpis:
    """Case volume, close reasons, SLA breach rate, average handling time of closed cases, CSAT and
    NPS (promoters minus detractors, in %). A merchant sees its own figures."""

    def compute() -> Kpis:
        scope = [CaseRow.merchant_id == who.merchant_id] if who.role == Actor.MERCHANT else []
        with ctx.reads() as session:
            by_status = dict(
                session.execute(
                    select(CaseRow.status, func.count()).where(*scope).group_by(CaseRow.status)
                ).all()
            )
            reasons = dict(
                session.execute(
                    select(CaseRow.close_reason, func.count())
                    .where(CaseRow.close_reason.is_not(None), *scope)
                    .group_by(CaseRow.close_reason)
                ).all()
            )
            total = sum(by_status.values())
            breached = session.scalar(select(func.count()).where(CaseRow.sla_breached.is_(True), *scope)) or 0
            closed = session.execute(
                select(CaseRow.created_at, CaseRow.updated_at).where(
                    CaseRow.status == str(CaseStatus.CLOSED), *scope
                )
            ).all()
            answered = session.execute(
                select(EventRow.kind, EventRow.payload)
                .join(CaseRow, CaseRow.case_id == EventRow.case_id)
                .where(EventRow.kind == str(EventKind.SURVEY_ANSWERED), *scope)
            ).all()
        surveys = [
            typed
            for kind, payload in answered
            if isinstance(typed := typed_payload(kind, payload or {}), SurveyPayload)
        ]
        hours = [(end - start).total_seconds() / 3600 for start, end in closed]
        csat = [survey.csat for survey in surveys]
        nps = [survey.nps for survey in surveys]
        return Kpis(
            cases=total,
            by_status={str(k): int(v) for k, v in by_status.items()},
            closed_by_reason={str(k): int(v) for k, v in reasons.items()},
            sla_breach_rate=round(breached / total, 4) if total else None,
            average_handling_hours=round(sum(hours) / len(hours), 2) if hours else None,
            csat_average=round(sum(csat) / len(csat), 2) if csat else None,
            nps=round(100 * (sum(n >= 9 for n in nps) - sum(n <= 6 for n in nps)) / len(nps), 1)
            if nps
            else None,
            surveys=len(surveys),
        )

    return await run_in_threadpool(compute)
