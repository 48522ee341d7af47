"""Records derived from audit events (approvals, breaches, evidence, surveys, notes) and the rebuilt
projection are read through the typed payload models of domain.audit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from store import audit, progress
from store.models import ApprovalRow, EvidenceRow, SlaBreachRow, SurveyRow
from tests.store import factories as f
from tests.store.helpers import create


def written(db: sessionmaker[Session], *events: tuple[str, dict[str, object]]) -> str:
    cid, _ = create(db, f.case_request())
    trail = [f.event(cid, seq, kind, payload=payload) for seq, (kind, payload) in enumerate(events, start=1)]
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, trail))
    return cid


def test_approvals_breaches_and_evidence_get_their_records_from_the_typed_payloads(
    db: sessionmaker[Session],
) -> None:
    due = f.NOW + timedelta(hours=24)
    cid = written(
        db,
        ("approved", {"decision": "approve", "private": {"comment": "金额合理"}}),
        ("approval_rejected", {"decision": "reject", "comment": "older form"}),
        (
            "sla_breached",
            {
                "action": "escalate",
                "clock": "platform",
                "party": "platform",
                "step_limit": "72 working h",
                "due_at": due.isoformat(),
            },
        ),
        ("merchant_responded", {"evidence": ["https://cdn.example.com/m/1.jpg"]}),
    )
    with db() as session:
        approvals = session.scalars(select(ApprovalRow).where(ApprovalRow.case_id == cid)).all()
        [breach] = session.scalars(select(SlaBreachRow).where(SlaBreachRow.case_id == cid)).all()
        [evidence] = session.scalars(
            select(EvidenceRow).where(EvidenceRow.case_id == cid, EvidenceRow.source != "request")
        ).all()
    assert [(a.seq, a.decision, a.comment) for a in approvals] == [
        (1, "approve", "金额合理"),
        (2, "reject", "older form"),
    ]
    assert (breach.step, breach.step_limit, breach.action, breach.due_at) == (
        "platform",
        "72 working h",
        "escalate",
        due,
    )
    assert (evidence.source, evidence.url) == ("merchant_responded", "https://cdn.example.com/m/1.jpg")


def test_a_payload_that_does_not_fit_its_kind_is_still_chained_but_derives_nothing(
    db: sessionmaker[Session],
) -> None:
    cid = written(db, ("survey_answered", {"csat": "very", "nps": 9}))
    with db() as session:
        assert [e.kind for e in audit.list_events(session, cid)] == ["survey_answered"]
        assert audit.verify_chain(session, cid) == []
        assert session.scalars(select(SurveyRow).where(SurveyRow.case_id == cid)).all() == []


def test_the_projection_rebuilds_from_the_typed_events_and_skips_those_that_do_not_fit(
    db: sessionmaker[Session],
) -> None:
    cid = written(
        db,
        ("step", {"to": str(Step.REFUNDING)}),
        ("refunded", {"amount": "100.00", "currency": "CNY"}),
        ("refunded", {"amount": "29.00", "currency": "CNY", "provider_refund_id": "R-2"}),
        ("step", {}),  # no `to`: skipped, as before
        ("closed", {"reason": "resolved"}),
        ("step", {"to": str(Step.CLOSED)}),
    )
    with db() as session:
        rebuilt = audit.rebuild_projection(session, cid)
    assert (rebuilt.step, rebuilt.status, rebuilt.close_reason) == ("closed", "closed", "resolved")
    assert rebuilt.refunded == Decimal("129.00") and not rebuilt.sla_breached
