"""Preliminary review (seed 001 §2.3): after-sales window, completeness and scope. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import Field

from domain.enums import IssueType, Reason
from domain.modelbase import DomainModel
from domain.models import CaseRequest
from domain.policy import CasePolicy

EVIDENCE_REQUIRED = {
    Reason.QUALITY_ISSUE,
    Reason.NOT_AS_DESCRIBED,
    Reason.WRONG_ITEM,
    Reason.DAMAGED_IN_TRANSIT,
}
QUALITY_REASONS = EVIDENCE_REQUIRED
NEEDS_ADDRESS = {IssueType.EXCHANGE, IssueType.REPAIR, IssueType.RESEND}


class ReviewOutcome(DomainModel):
    verdict: Literal["accept", "need_info", "out_of_scope"]
    missing: list[str] = Field(default_factory=list)
    reason: str = ""
    window_ends: date | None = None


def window_days(req: CaseRequest, policy: CasePolicy) -> int | None:
    """Days after delivery the customer may ask; None when the window has not started or has no end."""
    if req.reason == Reason.NOT_DELIVERED or req.order.delivered_at is None:
        return None
    if req.issue_type == IssueType.REPAIR:
        return policy.warranty_days
    if req.issue_type == IssueType.EXCHANGE or req.reason in QUALITY_REASONS:
        return policy.quality_exchange_days
    if req.issue_type == IssueType.COMPLAINT:
        return policy.quality_exchange_days
    return policy.no_reason_return_days


def excluded_category(req: CaseRequest, policy: CasePolicy) -> str | None:
    """The claimed category that the policy excludes from no-reason returns, for a change of mind."""
    if req.reason != Reason.CHANGED_MIND:
        return None
    excluded = set(policy.excluded_categories)
    return next((line.category for line in req.claimed_lines if line.category in excluded), None)


def window_end(
    delivered: date,
    days: int,
    is_working_day: Callable[[date], bool],
    is_holiday: Callable[[date], bool] | None = None,
) -> date:
    """Counted from the day after delivery; a last day on a public holiday moves to the next working
    day. With `is_holiday` (the calendar's closed dates) only a day off within a holiday break moves
    (a plain weekend does not); without it, as cases opened before it ran, any day off moves."""
    last = delivered + timedelta(days=days)
    if is_holiday is not None and not in_holiday_break(last, is_working_day, is_holiday):
        return last
    for _ in range(60):
        if is_working_day(last):
            return last
        last += timedelta(days=1)
    return last


def in_holiday_break(
    day: date, is_working_day: Callable[[date], bool], is_holiday: Callable[[date], bool]
) -> bool:
    """A day off within a public-holiday break: its run of days off holds a holiday (so the weekend
    days inside National Day or the Spring Festival count, a plain weekend does not)."""
    if is_working_day(day):
        return False
    for step in (timedelta(days=-1), timedelta(days=1)):
        current = day
        for _ in range(31):
            if is_working_day(current):
                break
            if is_holiday(current):
                return True
            current += step
    return False


def missing_fields(req: CaseRequest) -> list[str]:
    """Everything the customer must still supply, so it can be asked for in one message."""
    missing: list[str] = []
    if not req.description.strip():
        missing.append("description")
    if req.reason in EVIDENCE_REQUIRED and not any(e.kind in ("image", "video") for e in req.evidence):
        missing.append("evidence")
    if req.issue_type in NEEDS_ADDRESS and not (req.contact.address and req.contact.address.strip()):
        missing.append("contact.address")
    if not (req.contact.phone or req.contact.address):
        missing.append("contact.phone")
    return missing


def review_case(
    req: CaseRequest,
    received_at: datetime,
    policy: CasePolicy,
    local_date: Callable[[datetime], date],
    is_working_day: Callable[[date], bool],
    is_holiday: Callable[[date], bool] | None = None,
) -> ReviewOutcome:
    category = excluded_category(req, policy)
    if category is not None:
        return ReviewOutcome(
            verdict="out_of_scope",
            reason=f"{category.replace('_', ' ')} is excluded from no-reason returns (change of mind)",
        )
    days = window_days(req, policy)
    ends: date | None = None
    if days is not None and req.order.delivered_at is not None:
        ends = window_end(local_date(req.order.delivered_at), days, is_working_day, is_holiday)
        if local_date(received_at) > ends:
            quality_in_warranty = req.reason in QUALITY_REASONS and local_date(received_at) <= window_end(
                local_date(req.order.delivered_at), policy.warranty_days, is_working_day, is_holiday
            )
            if not quality_in_warranty:
                return ReviewOutcome(
                    verdict="out_of_scope",
                    reason=f"after-sales window of {days} days ended on {ends.isoformat()} "
                    "and the claim is not a quality issue within warranty",
                    window_ends=ends,
                )
    missing = missing_fields(req)
    if missing:
        return ReviewOutcome(verdict="need_info", missing=missing, window_ends=ends)
    return ReviewOutcome(verdict="accept", window_ends=ends)


def merge_customer_info(req: CaseRequest, info: dict[str, object]) -> CaseRequest:
    """The request with the customer's supplied fields applied (evidence is appended)."""
    data = req.model_dump(mode="json")
    if info.get("description"):
        data["description"] = info["description"]
    evidence = info.get("evidence")
    if isinstance(evidence, list):
        data["evidence"] = [*data["evidence"], *evidence][:20]
    contact = info.get("contact")
    if isinstance(contact, dict):
        data["contact"] = {**data["contact"], **{k: v for k, v in contact.items() if v}}
    return CaseRequest.model_validate(data)
