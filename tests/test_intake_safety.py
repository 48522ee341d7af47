"""Data that passes validation can never fail a workflow task in a loop (issue 13, item 9).

The case workflow reviews the claim and starts clocks from what the API accepted. Here every order
date the API accepts (and every limit a policy may hold) goes through the same pure code the
workflow runs, with the calendar snapshot the workflow would load: nothing may raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import calendar as cal
from domain.calendar import CalendarSnapshot
from domain.calendar_source import build_snapshot
from domain.enums import IssueType, Reason
from domain.intake import date_problems
from domain.models import EARLIEST, CaseRequest
from domain.policy import DEFAULT_POLICY
from domain.review import review_case
from domain.sla import start_clock
from tests.support.cases import kettle_request

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@lru_cache
def snapshot(name: str) -> CalendarSnapshot:
    """What the workflow's calendar activity loads for a case received at NOW."""
    start = (NOW - timedelta(days=60)).date()
    return build_snapshot(name, start, start + timedelta(days=730))


moments = st.datetimes(min_value=EARLIEST.replace(tzinfo=None), max_value=NOW.replace(tzinfo=None)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    paid=moments,
    delivery_delay=st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))),
    issue=st.sampled_from(list(IssueType)),
    reason=st.sampled_from(list(Reason)),
)
def test_every_accepted_order_date_reviews_and_starts_every_clock_without_raising(
    paid: datetime, delivery_delay: timedelta | None, issue: IssueType, reason: Reason
) -> None:
    delivered = None if delivery_delay is None else min(paid + delivery_delay, NOW)
    data = kettle_request(NOW, issue_type=issue, reason=reason).model_dump(mode="json")
    data["order"]["paid_at"] = paid.isoformat()
    data["order"]["delivered_at"] = delivered.isoformat() if delivered else None
    request = CaseRequest.model_validate(data)
    assert date_problems(request, NOW) == []
    business = snapshot("business")
    review_case(
        request,
        NOW,
        DEFAULT_POLICY,
        local_date=lambda t: cal.local_date(business, t),
        is_working_day=lambda d: bool(cal.periods_on(business, d)),
    )
    for step, limit in DEFAULT_POLICY.limits.items():
        clock = start_clock(step, limit, NOW, snapshot(limit.calendar), DEFAULT_POLICY.version)
        assert clock.due_at is not None and clock.due_at > NOW
