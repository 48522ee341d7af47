"""Quality review (复核, seed 000 §1.2; DESIGN §9): which closed cases a supervisor reviews, and how a
review is scored against the checklist. Pure rules, no I/O.

A closed case is reviewed when it was sampled — a share of closed cases, chosen by a keyed hash of
the case id, so the sample is random, reproducible from the seed and the same on every worker — or
always when the customer was unhappy (CSAT ≤ 2), appealed, or complained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

LOW_CSAT = 2


class ReviewReason(StrEnum):
    SAMPLED = "sampled"
    LOW_CSAT = "low_csat"
    APPEAL = "appeal"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class QualityPolicy:
    share: float = 0.05  # of closed cases sampled (AFTERSALES_QC_SAMPLE_SHARE)
    seed: str = "aftersales-qc"  # AFTERSALES_QC_SEED: another seed draws another sample


def sampled(case_id: str, policy: QualityPolicy) -> bool:
    """The same answer for the same case and seed, on any machine; true for about `share` of cases."""
    digest = hashlib.sha256(f"{policy.seed}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < policy.share * 2**64


def review_reasons(
    case_id: str, csat: int | None, appealed: bool, complaint: bool, policy: QualityPolicy
) -> list[ReviewReason]:
    """Why a closed case goes to the QC queue (empty: it does not)."""
    reasons = [ReviewReason.SAMPLED] if sampled(case_id, policy) else []
    if csat is not None and csat <= LOW_CSAT:
        reasons.append(ReviewReason.LOW_CSAT)
    if appealed:
        reasons.append(ReviewReason.APPEAL)
    if complaint:
        reasons.append(ReviewReason.COMPLAINT)
    return reasons


@dataclass(frozen=True)
class ChecklistItem:
    item_id: str
    label: str
    max_points: int


def score_problems(items: list[ChecklistItem], scores: dict[str, int]) -> list[str]:
    """What is wrong with a review's scores: every item scored, none unknown, each within 0..max."""
    known = {item.item_id: item for item in items}
    problems = [f"scores.{name}: not an item of the checklist" for name in sorted(set(scores) - set(known))]
    problems += [f"scores.{item.item_id}: not scored" for item in items if item.item_id not in scores]
    for name, points in sorted(scores.items()):
        item = known.get(name)
        if item is not None and not 0 <= points <= item.max_points:
            problems.append(f"scores.{name}: {points} is outside 0..{item.max_points}")
    return problems
