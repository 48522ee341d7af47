"""Closed cases go to the QC queue in the store write that closed them; reviews are scored once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.quality import ChecklistItem, QualityPolicy
from store import progress, quality
from store.models import QualityReviewRow
from tests.store import factories as f
from tests.store.helpers import create

NEVER, ALWAYS = QualityPolicy(share=0.0), QualityPolicy(share=1.0)


def close(
    db: sessionmaker[Session],
    policy: QualityPolicy,
    csat: int | None = None,
    issue_type: str = "return_and_refund",
    appealed: bool = False,
) -> str:
    cid, _ = create(db, f.case_request(issue_type=issue_type))
    events = []
    if csat is not None:
        events.append(
            f.event(cid, 1, "survey_answered", step=Step.FOLLOW_UP, payload={"csat": csat, "nps": 5})
        )
    closing = f.step_fields(Step.CLOSED, at=f.NOW + timedelta(hours=1), appealed=appealed)
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, events, view=closing), policy)
    return cid


def review(db: sessionmaker[Session], cid: str) -> QualityReviewRow | None:
    with db() as session:
        return session.get(QualityReviewRow, cid)


def test_a_closed_case_is_reviewed_when_sampled_unhappy_appealed_or_a_complaint(
    db: sessionmaker[Session],
) -> None:
    sampled = review(db, close(db, ALWAYS, csat=5))
    assert sampled is not None and (sampled.reasons, sampled.status) == ("sampled", "pending")
    unhappy = review(db, close(db, NEVER, csat=2))
    assert unhappy is not None and unhappy.reasons == "low_csat"
    appealed = review(db, close(db, NEVER, appealed=True))
    assert appealed is not None and appealed.reasons == "appeal"
    complaint = review(db, close(db, NEVER, issue_type="complaint"))
    assert complaint is not None and complaint.reasons == "complaint"
    assert review(db, close(db, NEVER, csat=4)) is None


def test_a_review_is_scored_once_against_the_checklist_in_force(db: sessionmaker[Session]) -> None:
    cid = close(db, NEVER, csat=1)
    with db.begin() as session:
        quality.replace_checklist(
            session,
            [ChecklistItem("tone", "Courteous", 10), ChecklistItem("timely", "In time", 20)],
            "supervisor:li",
        )
    with db.begin() as session:
        refused = quality.score(session, cid, {"tone": 10}, "", "supervisor:li")
        assert isinstance(refused, quality.ScoreRefused) and refused.status == 422
    with db.begin() as session:
        done = quality.score(session, cid, {"tone": 8, "timely": 20}, "good save", "supervisor:li")
        assert isinstance(done, QualityReviewRow) and (done.total, done.max_total) == (28, 30)
    with db.begin() as session:
        again = quality.score(session, cid, {"tone": 1, "timely": 1}, "", "supervisor:bo")
        assert isinstance(again, quality.ScoreRefused) and again.status == 409
    scored = review(db, cid)
    assert scored is not None and (scored.status, scored.reviewer, scored.total) == (
        "scored",
        "supervisor:li",
        28,
    )
    with db.begin() as session:
        unknown = quality.score(session, "AS-NOT-IN-QUEUE", {}, "", "supervisor:li")
        assert isinstance(unknown, quality.ScoreRefused) and unknown.status == 404
