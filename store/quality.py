"""Quality review in the store (复核; DESIGN §9): closed cases chosen for review, in the same
transaction as the store write that closed them, the checklist table, and scoring."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from domain.enums import IssueType
from domain.quality import ChecklistItem, QualityPolicy, review_reasons, score_problems
from store.common import utcnow
from store.models import CaseRow, QualityChecklistItemRow, QualityReviewRow, SurveyRow

PENDING, SCORED = "pending", "scored"
audit = logging.getLogger("audit.quality")


def select_for_review(session: Session, case: CaseRow, appealed: bool, policy: QualityPolicy) -> bool:
    """A case just closed: put it in the QC queue when it is sampled, unhappy, appealed or a complaint.
    Once per case (a case closed again after an appeal gains the reason, nothing else changes)."""
    csat = session.scalar(
        select(SurveyRow.csat)
        .where(SurveyRow.case_id == case.case_id)
        .order_by(SurveyRow.seq.desc())
        .limit(1)
    )
    reasons = review_reasons(case.case_id, csat, appealed, case.issue_type == IssueType.COMPLAINT, policy)
    if not reasons:
        return False
    found = session.get(QualityReviewRow, case.case_id)
    if found is not None:
        known = found.reasons.split()
        found.reasons = " ".join(known + [r.value for r in reasons if r.value not in known])
        return False
    session.add(
        QualityReviewRow(
            case_id=case.case_id,
            selected_at=utcnow(),
            reasons=" ".join(r.value for r in reasons),
            agent=case.assigned_to,
            status=PENDING,
        )
    )
    return True


def checklist(session: Session) -> list[ChecklistItem]:
    rows = session.scalars(
        select(QualityChecklistItemRow)
        .where(QualityChecklistItemRow.active.is_(True))
        .order_by(QualityChecklistItemRow.position)
    )
    return [ChecklistItem(r.item_id, r.label, r.max_points) for r in rows]


def replace_checklist(session: Session, items: list[ChecklistItem], actor: str) -> None:
    """The new checklist in force; items left out stay on record, inactive (old reviews name them)."""
    now = utcnow()
    kept = {row.item_id: row for row in session.scalars(select(QualityChecklistItemRow).with_for_update())}
    for row in kept.values():
        row.active = False
    for position, item in enumerate(items):
        row = kept.get(item.item_id) or QualityChecklistItemRow(item_id=item.item_id)
        session.add(row)
        row.label, row.max_points, row.position, row.active = item.label, item.max_points, position, True
        row.changed_at, row.changed_by = now, actor
    audit.info("quality checklist replaced by %s: %s", actor, ", ".join(i.item_id for i in items))


@dataclass(frozen=True)
class ScoreRefused:
    status: int
    detail: str
    problems: tuple[str, ...] = ()


def score(
    session: Session, case_id: str, scores: dict[str, int], comment: str, reviewer: str
) -> QualityReviewRow | ScoreRefused:
    """Score a pending review against the checklist in force; scored once, then kept as it was."""
    row = session.get(QualityReviewRow, case_id, with_for_update=True)
    if row is None:
        return ScoreRefused(404, f"case {case_id} is not in the quality-review queue")
    if row.status != PENDING:
        return ScoreRefused(
            409, f"case {case_id} was reviewed by {row.reviewer} at {row.reviewed_at:%Y-%m-%d %H:%M}"
        )
    items = checklist(session)
    problems = score_problems(items, scores)
    if problems:
        return ScoreRefused(422, problems[0], tuple(problems))
    row.status, row.reviewer, row.reviewed_at = SCORED, reviewer, utcnow()
    row.scores, row.comment = dict(scores), comment
    row.total, row.max_total = sum(scores.values()), sum(item.max_points for item in items)
    audit.info("quality review of %s scored %s/%s by %s", case_id, row.total, row.max_total, reviewer)
    return row


def list_reviews(
    session: Session, status: str, after: tuple[datetime, str] | None, limit: int
) -> list[QualityReviewRow]:
    query = (
        select(QualityReviewRow)
        .where(QualityReviewRow.status == status)
        .order_by(QualityReviewRow.selected_at, QualityReviewRow.case_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(QualityReviewRow.selected_at, QualityReviewRow.case_id) > after)
    return list(session.scalars(query))


def pending_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(QualityReviewRow.status == PENDING)) or 0)
