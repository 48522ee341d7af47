"""Quality review (复核) as pure rules: which closed cases are reviewed, and how a review is scored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.quality import ChecklistItem, QualityPolicy, ReviewReason, review_reasons, sampled, score_problems

IDS = [f"AS20261202{n:06d}" for n in range(10_000)]


def test_the_sample_is_reproducible_about_its_share_and_another_seed_draws_another() -> None:
    five = QualityPolicy(share=0.05, seed="s1")
    chosen = {case_id for case_id in IDS if sampled(case_id, five)}
    assert chosen == {case_id for case_id in IDS if sampled(case_id, QualityPolicy(share=0.05, seed="s1"))}
    assert 400 <= len(chosen) <= 600  # 5 % of 10,000, give or take what a hash gives
    other = {case_id for case_id in IDS if sampled(case_id, QualityPolicy(share=0.05, seed="s2"))}
    assert other != chosen and len(other & chosen) < 100


@given(st.text(min_size=1, max_size=30), st.floats(min_value=0, max_value=1))
def test_a_bigger_share_keeps_every_case_a_smaller_one_chose(case_id: str, share: float) -> None:
    if sampled(case_id, QualityPolicy(share=share)):
        assert sampled(case_id, QualityPolicy(share=min(1.0, share + 0.1)))
    assert not sampled(case_id, QualityPolicy(share=0.0)) and sampled(case_id, QualityPolicy(share=1.0))


def test_unhappy_appealed_and_complaint_cases_are_always_reviewed() -> None:
    never = QualityPolicy(share=0.0)
    assert review_reasons("A", csat=2, appealed=False, complaint=False, policy=never) == [
        ReviewReason.LOW_CSAT
    ]
    assert review_reasons("A", csat=3, appealed=False, complaint=False, policy=never) == []
    assert review_reasons("A", None, appealed=True, complaint=True, policy=never) == [
        ReviewReason.APPEAL,
        ReviewReason.COMPLAINT,
    ]


def test_a_review_scores_every_item_within_its_points() -> None:
    items = [ChecklistItem("tone", "Courteous", 10), ChecklistItem("timely", "In time", 15)]
    assert score_problems(items, {"tone": 10, "timely": 0}) == []
    assert score_problems(items, {"tone": 11, "timely": 3, "speed": 1}) == [
        "scores.speed: not an item of the checklist",
        "scores.tone: 11 is outside 0..10",
    ]
    assert score_problems(items, {"tone": 5}) == ["scores.timely: not scored"]
