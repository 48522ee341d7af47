"""The facts the reports read (docs/KPIS.md): one `report_cases` row per case, its dimensions written
with the case, its measures written by the store projection in the transaction that closes it. The
reports then aggregate one narrow, indexed table instead of reading views, events and side tables.

`python -m store.report_facts rebuild` fills the facts of cases stored before the table existed.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from domain.calendar import DEFAULT_TIMEZONE, zone
from domain.calendar_source import BUSINESS
from domain.enums import CloseReason, Step
from domain.models import CaseView
from domain.sla import PLATFORM
from domain.steps import STEP_TABLE
from store.models import CalendarHoursRow, CaseRow, EventRow, ReportCaseItemRow, ReportCaseRow, SlaBreachRow

DECISIONS = {"option_accepted", "auto_accepted", "ruled", "auto_judged"}
DISPUTE_STEPS = {str(Step.DISPUTE), str(Step.DISPUTE_EVIDENCE)}
KINDS_READ = DECISIONS | {"step", "proposed", "appealed", "refunded", "survey_answered", "closed"}


def platform_zone(session: Session) -> ZoneInfo:
    """The platform's time zone: the business calendar's platform-wide one if set, else the default."""
    tz = session.scalar(
        select(CalendarHoursRow.timezone).where(
            CalendarHoursRow.calendar == BUSINESS, CalendarHoursRow.merchant_id.is_(None)
        )
    )
    return zone(tz or DEFAULT_TIMEZONE)


def dimensions(request: dict[str, Any]) -> dict[str, str]:
    """Category (of the first claimed line) and channel, from the stored request (not sealed)."""
    lines = (request.get("order") or {}).get("lines") or []
    claimed = set(request.get("line_ids") or [])
    first = next((line for line in lines if line.get("line_id") in claimed), lines[0] if lines else {})
    category, channel = first.get("category"), request.get("channel")
    return {"category": str(category or "none"), "channel": str(channel or "none")}


def opened(session: Session, row: CaseRow) -> ReportCaseRow:
    """The case's dimensions, with the case (no measures until it closes)."""
    facts = opening_facts(row)
    session.add(facts)
    return facts


def opening_facts(row: CaseRow) -> ReportCaseRow:
    """The report row a new case is stored with (the caller adds it)."""
    return ReportCaseRow(
        case_id=row.case_id,
        merchant_id=row.merchant_id,
        issue_type=row.issue_type,
        reason=row.reason,
        queue=row.queue or "general",
        agent=row.assigned_to,
        created_at=row.created_at,
        **dimensions(row.request),
    )


def follow(
    session: Session, row: CaseRow, view: CaseView, was_closed: bool, agent_before: str | None
) -> None:
    """After a projection write: a close writes the measures, a reopen removes them, a new assignee
    is kept (the FRT reports group messages by it)."""
    if str(view.status) == "closed":
        closed(session, row, view)
    elif was_closed:
        reopened(session, row.case_id)
    if str(view.status) != "closed" and row.assigned_to != agent_before:
        session.execute(
            update(ReportCaseRow).where(ReportCaseRow.case_id == row.case_id).values(agent=row.assigned_to)
        )


def reopened(session: Session, case_id: str) -> None:
    session.execute(delete(ReportCaseItemRow).where(ReportCaseItemRow.case_id == case_id))
    session.execute(
        update(ReportCaseRow).where(ReportCaseRow.case_id == case_id).values(closed_on=None, closed_at=None)
    )


def _platform_seconds(view: CaseView) -> int | None:
    clock = next((c for c in view.sla if c.clock == PLATFORM), None)
    return None if clock is None else int(clock.used.total_seconds())


def closed(session: Session, row: CaseRow, view: CaseView) -> None:
    """Write the measures of a closed case (replacing those of an earlier close)."""
    facts = session.get(ReportCaseRow, row.case_id) or opened(session, row)
    events = session.execute(
        select(EventRow.kind, EventRow.step, EventRow.at, EventRow.payload)
        .where(EventRow.case_id == row.case_id, EventRow.kind.in_(KINDS_READ))
        .order_by(EventRow.seq)
    ).all()
    entries: Counter[str] = Counter()
    proposals = refunds = 0
    refunded = Decimal(0)
    appealed = view.appealed
    survey_sent = survey_answered = False
    decided_at: datetime | None = None
    first_refund_seconds: int | None = None
    outcome: str | None = None
    csat = nps = None
    for kind, _step, at, payload in events:
        payload = payload or {}
        if kind == "step":
            to = str(payload.get("to"))
            entries[to] += 1
            survey_sent = survey_sent or to == str(Step.FOLLOW_UP)
        elif kind == "proposed":
            proposals += 1
        elif kind == "appealed":
            appealed = True
        elif kind in DECISIONS:
            decided_at = at
            if kind == "ruled":
                outcome = str(payload.get("resolution") or "unknown")
            elif kind == "auto_judged":
                outcome = f"auto:{payload.get('resolution') or 'unknown'}"
        elif kind == "refunded":
            refunds += 1
            refunded += Decimal(str(payload.get("amount") or 0))
            if first_refund_seconds is None and decided_at is not None:
                first_refund_seconds = int((at - decided_at).total_seconds())
        elif kind == "survey_answered":
            survey_answered = True
            csat, nps = payload.get("csat"), payload.get("nps")
    breaches = Counter(
        session.scalars(select(SlaBreachRow.step).where(SlaBreachRow.case_id == row.case_id)).all()
    )
    limits: dict[str, tuple[str, int]] = {}
    for step, times in entries.items():
        spec = STEP_TABLE.get(Step(step)) if step in Step.__members__.values() else None
        if spec is not None and spec.breaches and spec.limit is not None and spec.party is not None:
            limits[step] = (spec.party, times)
    aht = _platform_seconds(view)
    if aht is not None:
        limits[PLATFORM] = ("platform", 1)
    for step in breaches:  # a breach of a step the events do not show (older trails) still counts
        if step not in limits:
            spec = STEP_TABLE.get(Step(step)) if step in Step.__members__.values() else None
            limits[step] = (spec.party if spec and spec.party else "platform", breaches[step])
    missed = {step: min(breaches.get(step, 0), times) for step, (_, times) in limits.items()}

    tz = platform_zone(session)
    closed_at = view.updated_at
    facts.agent = row.assigned_to
    facts.queue = row.queue or facts.queue
    facts.closed_at = closed_at
    facts.closed_on = closed_at.astimezone(tz).date()
    facts.close_reason = str(view.close_reason) if view.close_reason else str(CloseReason.RESOLVED)
    facts.aht_seconds = aht
    facts.platform_limits = sum(t for p, t in limits.values() if p == "platform")
    facts.merchant_limits = sum(t for p, t in limits.values() if p == "merchant")
    facts.platform_breaches = sum(missed[s] for s, (p, _) in limits.items() if p == "platform")
    facts.merchant_breaches = sum(missed[s] for s, (p, _) in limits.items() if p == "merchant")
    facts.appealed = appealed
    facts.disputed = any(step in DISPUTE_STEPS for step in entries)
    facts.second_remedy = proposals > 1
    facts.survey_sent = survey_sent or survey_answered
    facts.csat = int(csat) if survey_answered and csat is not None else None
    facts.nps = int(nps) if survey_answered and nps is not None else None
    facts.refunds = refunds
    facts.refunded_amount = refunded
    facts.refund_seconds = first_refund_seconds
    facts.dispute_outcome = outcome[:40] if outcome else None
    session.execute(delete(ReportCaseItemRow).where(ReportCaseItemRow.case_id == row.case_id))
    session.flush()
    items = [
        ReportCaseItemRow(
            case_id=row.case_id,
            kind="limit",
            name=step,
            party=party,
            total=t,
            missed=missed[step],
            closed_on=facts.closed_on,
        )
        for step, (party, t) in limits.items()
    ]
    items += [
        ReportCaseItemRow(
            case_id=row.case_id,
            kind="auto",
            name=code[:60],
            party="",
            total=n,
            missed=0,
            closed_on=facts.closed_on,
        )
        for code, n in Counter(view.reason_codes).items()
    ]
    if facts.dispute_outcome:
        items.append(
            ReportCaseItemRow(
                case_id=row.case_id,
                kind="outcome",
                name=facts.dispute_outcome,
                party="",
                total=1,
                missed=0,
                closed_on=facts.closed_on,
            )
        )
    session.add_all(items)


def rebuild(session: Session, only_missing: bool = True) -> int:
    """Facts for every case (by default: those that have none); returns how many were written."""
    query = select(CaseRow)
    if only_missing:
        has_facts = select(ReportCaseRow.case_id).where(ReportCaseRow.case_id == CaseRow.case_id).exists()
        query = query.where(~has_facts)
    written = 0
    for row in session.scalars(query.execution_options(yield_per=500)):
        if row.status == "closed":
            closed(session, row, CaseView.model_validate(row.view))
        elif session.get(ReportCaseRow, row.case_id) is None:
            opened(session, row)
        written += 1
    session.flush()
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["rebuild"], ["rebuild", "--all"]):
        print("usage: python -m store.report_facts rebuild [--all]", file=sys.stderr)
        return 2
    from core.settings import get_settings
    from store.db import make_engine, make_session_factory

    engine = make_engine(get_settings().resolved_database_url)
    with make_session_factory(engine).begin() as session:
        written = rebuild(session, only_missing="--all" not in args)
    print(f"report facts written for {written} case(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
