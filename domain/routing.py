"""Routing and priority of a new case (DESIGN §9, issue 15): pure rules, no I/O.

- **Priority** is derived at intake from the request and what the store knows of the customer: a
  complaint, a claimed amount at or above a threshold, a repeat claimant (earlier cases of the same
  customer within N days) and a VIP order each raise it to `high`; two or more of them to `urgent`.
  The caller's `priority` is the floor: the case gets the higher of the two. The reason lists what
  raised it, so an agent sees why a case jumped the queue.
- **Routing**: an ordered rule table puts every new case in a queue. A rule matches when every field
  it names matches (a field it leaves out matches anything; a list matches any of its values); the
  first matching rule wins; no match puts the case in the default queue. Rules see the derived
  priority, so "urgent cases to the `escalations` queue" is a rule.

The amount both use is the request's `paid_total`: what was paid for the claimed order lines. The
request carries no separate claimed amount (a refund is proposed later, by an agent), and what was
paid for the lines is the most the case can refund (DESIGN §8), so it is what is at stake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from domain.enums import Channel, IssueType, Priority, Reason, priority_rank
from domain.modelbase import DomainModel
from domain.models import CaseRequest, Identifier
from domain.money import Money

QUEUE_PATTERN = r"^[a-z0-9_-]{1,40}$"
QueueName = Annotated[str, Field(pattern=QUEUE_PATTERN, examples=["general", "complaints"])]
MAX_RULES = 500
# How many values one rule field may list (merchants of a key-account queue, say).
MAX_VALUES = 1000


def _any_of(description: str | None = None) -> Any:
    """A rule field: null matches anything; a list matches any of its values (never an empty one)."""
    return Field(default=None, min_length=1, max_length=MAX_VALUES, description=description)


class RoutingRule(DomainModel):
    """One row of the routing table. Fields left out (or null) match any case; an empty list is
    refused (it would match none, which is surely a mistake)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: QueueName
    name: str | None = Field(default=None, max_length=120, description="what the rule is for, for people")
    issue_types: list[IssueType] | None = _any_of()
    reasons: list[Reason] | None = _any_of()
    categories: list[Identifier] | None = _any_of("matches when a claimed order line has one of them")
    merchant_ids: list[Identifier] | None = _any_of()
    channels: list[Channel] | None = _any_of()
    priorities: list[Priority] | None = _any_of("the case's derived priority")
    min_amount: Money | None = Field(default=None, description="paid for the claimed lines, inclusive")
    max_amount: Money | None = Field(default=None, description="paid for the claimed lines, inclusive")

    @model_validator(mode="after")
    def _amounts(self) -> RoutingRule:
        low, high = self.min_amount, self.max_amount
        if low is not None and high is not None:
            if low.currency != high.currency:
                raise ValueError("min_amount and max_amount must be in one currency")
            if low.amount > high.amount:
                raise ValueError("min_amount must not be above max_amount")
        return self

    @property
    def currency(self) -> str | None:
        bound = self.min_amount or self.max_amount
        return bound.currency if bound is not None else None

    def matches(self, facts: CaseFacts) -> bool:
        def among(values: Sequence[object] | None, value: object) -> bool:
            return values is None or value in values

        if not (
            among(self.issue_types, facts.issue_type)
            and among(self.reasons, facts.reason)
            and among(self.merchant_ids, facts.merchant_id)
            and among(self.channels, facts.channel)
            and among(self.priorities, facts.priority)
        ):
            return False
        if self.categories is not None and not facts.categories & set(self.categories):
            return False
        if self.currency is not None and self.currency != facts.amount.currency:
            return False  # a bound in another currency says nothing about this amount
        if self.min_amount is not None and facts.amount.amount < self.min_amount.amount:
            return False
        return self.max_amount is None or facts.amount.amount <= self.max_amount.amount


class RoutingTable(DomainModel):
    """The whole ordered table, as `PUT /v1/admin/routing/rules` replaces it: first match wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[RoutingRule] = Field(max_length=MAX_RULES)


@dataclass(frozen=True)
class CaseFacts:
    """What the rules look at, taken from the request and the derived priority."""

    issue_type: IssueType
    reason: Reason
    categories: frozenset[str]
    merchant_id: str
    channel: Channel
    priority: Priority
    amount: Money

    @classmethod
    def of(cls, req: CaseRequest, priority: Priority) -> CaseFacts:
        return cls(
            issue_type=req.issue_type,
            reason=req.reason,
            categories=frozenset(line.category for line in req.claimed_lines),
            merchant_id=req.order.merchant_id,
            channel=req.channel,
            priority=priority,
            amount=req.paid_total,
        )


@dataclass(frozen=True)
class Route:
    queue: str
    rule: int | None  # the position of the rule that matched; None: the default queue


def route(rules: Sequence[RoutingRule], facts: CaseFacts, default_queue: str) -> Route:
    """The queue of the first rule that matches, else the default queue."""
    for position, rule in enumerate(rules):
        if rule.matches(facts):
            return Route(rule.queue, position)
    return Route(default_queue, None)


# --- priority --------------------------------------------------------------------------------


class PriorityRules(DomainModel):
    """What raises a case's priority (the settings `AFTERSALES_PRIORITY_*` fill it)."""

    model_config = ConfigDict(frozen=True)

    high_amount: Money = Money(amount=Decimal("1000.00"), currency="CNY")
    repeat_days: int = Field(default=30, ge=1, le=365)
    repeat_cases: int = Field(default=1, ge=1, le=100)

    @property
    def repeat_window(self) -> timedelta:
        return timedelta(days=self.repeat_days)


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    reason: str


def derive_priority(req: CaseRequest, earlier_cases: int, rules: PriorityRules) -> PriorityDecision:
    """The case's priority and why.

    `earlier_cases`: the same customer's cases opened within `rules.repeat_days` before this one.
    Each of complaint, amount, repeat claimant and VIP raises the case to `high`, two or more to
    `urgent`; the caller's priority is kept when it is higher."""
    raised: list[str] = []
    if req.issue_type == IssueType.COMPLAINT:
        raised.append("complaint")
    amount = req.paid_total
    if amount.currency == rules.high_amount.currency and amount.amount >= rules.high_amount.amount:
        raised.append(f"amount {amount} at or above {rules.high_amount}")
    if earlier_cases >= rules.repeat_cases:
        raised.append(f"repeat claimant: {earlier_cases} earlier case(s) in {rules.repeat_days} days")
    if req.order.vip:
        raised.append("VIP order")
    derived: Priority = "urgent" if len(raised) >= 2 else "high" if raised else "low"
    if priority_rank(req.priority) >= priority_rank(derived):
        given = f"given by the caller: {req.priority}"
        return PriorityDecision(req.priority, "; ".join([given, *raised]) if raised else given)
    return PriorityDecision(derived, "; ".join(raised))
