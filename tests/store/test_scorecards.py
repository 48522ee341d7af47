"""A month's scorecard per agent (seed 003): observed violations from what the store recorded, each
with its case and record, entered ones with their reason, and the late-callback escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from domain.conversation import Party, Visibility
from domain.scorecard import SEED_003_RULES, Rule, points_for, rule_problems
from store import messages, scorecards
from store.models import CallbackRow, CaseRow, QualityReviewRow, SurveyRow
from tests.store import factories as f
from tests.store.helpers import create

NOV = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 10:00 on 10 November in Shanghai


def test_a_late_callback_costs_double_after_the_third_in_a_month() -> None:
    late = next(r for r in SEED_003_RULES if r.code == "callback_late")
    assert [points_for(late, n) for n in (1, 2, 3, 4, 5)] == [Decimal("-0.5")] * 3 + [Decimal("-1.0")] * 2


def test_a_rule_table_that_cannot_work_is_refused() -> None:
    assert rule_problems(list(SEED_003_RULES)) == []
    dropped = [r for r in SEED_003_RULES if r.code != "bad_review"]
    assert rule_problems(dropped) == ["rules: the observed rules must stay in the table (missing bad_review)"]
    made_up = [*SEED_003_RULES, Rule("talks_too_much", "x", Decimal(-1), True)]
    assert rule_problems(made_up)[0].startswith("rules.12.observed")


def agent_month(db: sessionmaker[Session], agent: str) -> str:
    """November for one agent: a late first reply, a late and night-late one, four late callbacks, a
    bad review with text, and one entry by a supervisor (plus one reversed)."""
    cid, _ = create(db, f.case_request(), at=NOV - timedelta(days=1))
    with db.begin() as session:
        owner = session.get(CaseRow, cid)
        assert owner is not None
        owner.assigned_to = agent
        for n, night in enumerate([None, NOV + timedelta(days=1)]):
            row = messages.add_message(
                session, cid, "system:shop", Party.CUSTOMER, Visibility.CUSTOMER, f"q{n}", at=NOV
            )
            row.frt_breached_at, row.night_violation_at, row.responsible = NOV, night, agent
        for attempt in range(1, 5):
            due = NOV + timedelta(days=attempt)
            session.add(
                CallbackRow(case_id=cid, seq=9, attempt=attempt, due_at=due, assignee=agent, status="done",
                            outcome="unreachable", done_at=due + timedelta(days=1), late=True)
            )  # fmt: skip
        session.add(
            SurveyRow(case_id=cid, seq=20, csat=1, nps=0, comment="sealed words", at=NOV + timedelta(days=2))
        )
        reviewed = NOV + timedelta(days=3)
        session.add(
            QualityReviewRow(case_id=cid, selected_at=NOV, reasons="low_csat", agent=agent, status="scored",
                             reviewer="supervisor:li", reviewed_at=reviewed, total=80, max_total=100)
        )  # fmt: skip
        scorecards.add_entry(
            session, agent, "2026-11", "misquote", cid, "quoted last year's price", "supervisor:li"
        )
        gone = scorecards.add_entry(
            session, agent, "2026-11", "away_not_set", None, "left for lunch", "supervisor:li"
        )
        scorecards.reverse_entry(session, gone.entry_id, "was on a call", "supervisor:li")
    return cid


def test_an_agents_month_adds_up_observed_and_entered_violations(db: sessionmaker[Session]) -> None:
    agent = f"P-sc-{f.NOW.timestamp():.0f}"
    cid = agent_month(db, agent)
    with db() as session:
        cards = scorecards.monthly(session, "2026-11", agent, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert [c.person_id for c in cards] == [agent]
    card = cards[0]
    codes = sorted((v.code, v.points) for v in card.violations)
    expected = [("first_reply_late", Decimal("-1"))] * 2 + [("night_message_late", Decimal("-1.5"))]
    expected += [("callback_late", Decimal("-0.5"))] * 3 + [("callback_late", Decimal("-1.0"))]
    expected += [("bad_review_with_text", Decimal("-5")), ("misquote", Decimal("-5"))]
    assert codes == sorted(expected)
    assert card.total == Decimal("-16.0")
    assert (card.quality_reviews, card.quality_score) == (1, 0.8)  # the quality review feeds the card
    assert all(v.case_id == cid for v in card.violations)
    entered = [v for v in card.violations if v.source == "entered"]
    assert [(v.code, v.note) for v in entered] == [("misquote", "quoted last year's price")]
    with db() as session:
        assert scorecards.monthly(session, "2026-10", agent) == []  # nothing in October
