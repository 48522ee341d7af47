"""Checks on a new case that need the current time, so they cannot live in the models (the workflow
re-validates its input on replay, when "now" is another moment). Pure: the API passes `now`."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.models import CaseRequest

# Clocks of the shop front and ours may differ a little; beyond this a date is in the future.
CLOCK_SKEW = timedelta(minutes=5)


def date_problems(req: CaseRequest, now: datetime) -> list[tuple[str, str]]:
    """(field, message) for every order date that cannot be true at `now`."""
    latest = now + CLOCK_SKEW
    problems: list[tuple[str, str]] = []
    if req.order.paid_at > latest:
        problems.append(("order.paid_at", "must not be in the future"))
    if req.order.delivered_at is not None and req.order.delivered_at > latest:
        problems.append(("order.delivered_at", "must not be in the future"))
    return problems
