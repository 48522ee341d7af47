"""After-sales windows from the policy (DESIGN §2, §13): counted in calendar days from the day after
delivery, the last day moved to the next working day when it falls on a public holiday; tested
around National Day (Oct 1-7) and the Spring Festival on the business calendar's holiday data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pytest

from domain import calendar as cal
from domain.calendar import CalendarSnapshot
from domain.calendar_source import build_snapshot
from domain.models import CaseRequest
from domain.policy import CasePolicy
from domain.policy_docs import PolicyDocument, PolicyVersion, resolve
from domain.review import ReviewOutcome, review_case
from tests.support.cases import kettle_request

SHANGHAI_NOON = timedelta(hours=4)  # 12:00 in Shanghai is 04:00 UTC


@lru_cache(maxsize=1)
def business() -> CalendarSnapshot:
    return build_snapshot("business", date(2025, 12, 1), date(2027, 1, 31))


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + SHANGHAI_NOON


def request(delivered: date, category: str = "appliances", **overrides: Any) -> CaseRequest:
    data = kettle_request(at(delivered) + timedelta(days=2), **overrides).model_dump(mode="json")
    data["order"]["delivered_at"] = at(delivered).isoformat()
    data["order"]["paid_at"] = (at(delivered) - timedelta(days=2)).isoformat()
    data["order"]["lines"][0]["category"] = category
    return CaseRequest.model_validate(data)


def review(req: CaseRequest, received: date, policy: CasePolicy) -> ReviewOutcome:
    snapshot = business()
    return review_case(
        req,
        at(received),
        policy,
        local_date=lambda t: cal.local_date(snapshot, t),
        is_working_day=lambda d: bool(cal.periods_on(snapshot, d)),
        is_holiday=set(snapshot.closed_dates).__contains__,
    )


PLATFORM = resolve([]).policy
CHANGED_MIND: dict[str, Any] = {"reason": "changed_mind", "evidence": []}


def merchant_policy(**fields: Any) -> CasePolicy:
    version = PolicyVersion(
        level="merchant",
        merchant_id="M-100",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        document=PolicyDocument.model_validate(fields),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        created_by="test",
    )
    return resolve([version]).policy


@pytest.mark.parametrize(
    ("delivered", "last_day", "why"),
    [
        (date(2026, 9, 6), date(2026, 9, 13), "day 7 is a plain Sunday: no public holiday, it stays"),
        (date(2026, 9, 20), date(2026, 9, 28), "day 7 is Sunday Sep 27, in the Mid-Autumn break (Sep 25-27)"),
        (date(2026, 9, 27), date(2026, 10, 8), "day 7 is Sunday Oct 4, inside the National Day break"),
        (date(2026, 9, 24), date(2026, 10, 8), "day 7 is Oct 1: National Day moves it past Oct 7"),
        (date(2026, 9, 30), date(2026, 10, 8), "day 7 is Oct 7, the holiday's last day"),
        (date(2026, 10, 2), date(2026, 10, 9), "delivered during the holiday: day 7 is a working Oct 9"),
        (date(2026, 2, 9), date(2026, 2, 24), "day 7 is Feb 16: the Spring Festival runs Feb 15-23"),
        (date(2026, 2, 7), date(2026, 2, 14), "day 7 is Feb 14, a Saturday worked before the festival"),
    ],
)
def test_the_7_day_no_reason_window_counts_from_the_day_after_delivery_past_public_holidays(
    delivered: date, last_day: date, why: str
) -> None:
    req = request(delivered, **CHANGED_MIND)
    on_time = review(req, last_day, PLATFORM)
    assert on_time.verdict == "accept" and on_time.window_ends == last_day, why
    late = review(req, last_day + timedelta(days=1), PLATFORM)
    assert late.verdict == "out_of_scope" and f"ended on {last_day.isoformat()}" in late.reason, why


def test_the_15_day_quality_exchange_window_moves_past_national_day() -> None:
    req = request(date(2026, 9, 16), issue_type="exchange", reason="other", evidence=[])
    assert review(req, date(2026, 10, 8), PLATFORM).verdict == "accept"  # day 15 is Oct 1
    assert review(req, date(2026, 10, 9), PLATFORM).verdict == "out_of_scope"


def test_a_merchants_policy_sets_its_own_windows() -> None:
    ten_days = merchant_policy(no_reason_return_days=10)
    req = request(date(2026, 9, 20), **CHANGED_MIND)
    # Day 10 is Sep 30; the platform's 7 days ended Sep 28 (day 7 fell in the Mid-Autumn break).
    assert review(req, date(2026, 9, 30), ten_days).verdict == "accept"
    assert review(req, date(2026, 9, 30), PLATFORM).verdict == "out_of_scope"
    warranty = merchant_policy(warranty_days=30)
    repair = request(date(2026, 9, 1), issue_type="repair", reason="quality_issue")
    assert review(repair, date(2026, 10, 8), warranty).verdict == "accept"  # day 30 is Oct 1
    assert review(repair, date(2026, 10, 9), warranty).verdict == "out_of_scope"


@pytest.mark.parametrize("category", ["fresh_food", "customized", "digital", "hygiene_opened"])
def test_an_excluded_category_is_out_of_scope_for_a_change_of_mind_even_within_the_window(
    category: str,
) -> None:
    req = request(date(2026, 9, 24), category=category, **CHANGED_MIND)
    outcome = review(req, date(2026, 9, 25), PLATFORM)
    assert outcome.verdict == "out_of_scope"
    assert "excluded from no-reason returns" in outcome.reason
    quality = request(date(2026, 9, 24), category=category)  # a quality claim is not a change of mind
    assert review(quality, date(2026, 9, 25), PLATFORM).verdict == "accept"


def test_a_merchant_may_exclude_its_own_categories_or_allow_one() -> None:
    own = merchant_policy(excluded_categories=["appliances"])
    req = request(date(2026, 9, 24), **CHANGED_MIND)
    assert review(req, date(2026, 9, 25), own).verdict == "out_of_scope"
    fresh = request(date(2026, 9, 24), category="fresh_food", **CHANGED_MIND)
    assert review(fresh, date(2026, 9, 25), own).verdict == "accept", (
        "the merchant's list replaces the platform's"
    )


def test_without_holiday_data_any_day_off_moves_the_last_day_as_it_did_for_older_cases() -> None:
    snapshot = business()
    req = request(date(2026, 9, 6), **CHANGED_MIND)
    outcome = review_case(
        req,
        at(date(2026, 9, 14)),
        PLATFORM,
        local_date=lambda t: cal.local_date(snapshot, t),
        is_working_day=lambda d: bool(cal.periods_on(snapshot, d)),
    )
    assert outcome.verdict == "accept" and outcome.window_ends == date(2026, 9, 14)
