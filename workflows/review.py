"""The preliminary review on the case's calendar, with the changes made to it since version 1.

`domain.review.review_case` judges a claim; this applies it to a case, with each later change to the
review taken only by cases that may (`workflows.patches`):

- `excluded-categories`: a change of mind on an excluded category (fresh food, ...) is out of scope.
  It matters only for a claim of such a category.
- `holiday-window`: a window's last day moves only when it falls in a public-holiday break (DESIGN
  §2); cases opened before moved it past any day off. It matters only when the two give another
  verdict, reason or list of what is missing.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import calendar as cal
    from domain.calendar import CalendarSnapshot
    from domain.models import CaseRequest
    from domain.policy import CasePolicy
    from domain.review import ReviewOutcome, excluded_category, review_case
    from workflows.patches import patched_where_it_matters


def review(
    request: CaseRequest, received_at: datetime, policy: CasePolicy, snapshot: CalendarSnapshot
) -> ReviewOutcome:
    """The review's outcome; the window is judged when the claim came in (`received_at`)."""
    excluding = patched_where_it_matters(
        "excluded-categories", excluded_category(request, policy) is not None
    )
    if not excluding:
        policy = policy.model_copy(update={"excluded_categories": ()})
    holidays = frozenset(snapshot.closed_dates)

    def judged(in_holiday_breaks: bool) -> ReviewOutcome:
        return review_case(
            request,
            received_at,
            policy,
            local_date=lambda t: cal.local_date(snapshot, t),
            is_working_day=lambda d: bool(cal.periods_on(snapshot, d)),
            is_holiday=holidays.__contains__ if in_holiday_breaks else None,
        )

    new, old = judged(True), judged(False)
    same = (new.verdict, new.reason, new.missing) == (old.verdict, old.reason, old.missing)
    return new if patched_where_it_matters("holiday-window", not same) else old
