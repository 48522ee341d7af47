"""Published limits and thresholds of the process (DESIGN §2): one configurable policy per case.

The policy travels into the workflow as input, so a running case keeps the policy it started
with (its `version` is shown when a case explains a deadline).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from domain.enums import PRIORITIES, Priority, Step
from domain.modelbase import DomainModel
from domain.money import Money
from domain.steps import DEFAULT_LIMITS, Basis, BreachAction, StepLimit, breach_problems, spec_of
from domain.tiers import ApprovalTier, tier_problems

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_POLICY",
    "ApprovalTier",
    "Basis",
    "BreachAction",
    "CasePolicy",
    "StepLimit",
]


def _default_factors() -> dict[Priority, Decimal]:
    return {"low": Decimal("1"), "normal": Decimal("1"), "high": Decimal("0.75"), "urgent": Decimal("0.5")}


def _platform_limit() -> StepLimit:
    return StepLimit(hours=Decimal("120"), basis="working", on_breach="escalate", who_acts="supervisor")


class CasePolicy(DomainModel):
    """Everything a case needs to decide limits, thresholds and windows."""

    model_config = ConfigDict(frozen=True)

    name: str = "default"
    version: str = "2026-12-1"
    limits: dict[Step, StepLimit] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    refund_approval_threshold: Money = Money(amount=Decimal("500.00"), currency="CNY")
    compensation_approval_threshold: Money = Money(amount=Decimal("50.00"), currency="CNY")
    # No single action may compensate more than this (a coupon or balance credit).
    compensation_cap: Money = Money(amount=Decimal("1000.00"), currency="CNY")
    no_reason_return_days: int = 7
    quality_exchange_days: int = 15
    warranty_days: int = 365
    appeal_window_days: int = 15
    # The platform answers a customer message within this much service-desk time (000 §1.1).
    first_response_minutes: int = Field(default=15, ge=1, le=1440)
    # Overrides the breach action of merchant verification (DESIGN §2: auto-accept, or escalate).
    merchant_timeout_action: Literal["auto_accept", "escalate", "to_dispute"] = "auto_accept"
    # Orders up to this amount, from customers in good standing, are refunded on the return scan.
    refund_on_scan_max: Money = Money(amount=Decimal("100.00"), currency="CNY")
    # Categories excluded from no-reason returns (DESIGN §13): a `changed_mind` claim on one is out of
    # scope. Empty in policies recorded before policies were versioned (their cases replay as they ran).
    excluded_categories: tuple[str, ...] = ()
    # Who approves which amount (supervisor up to a bound, manager above); empty: the supervisor
    # approves everything within the approval step's limit.
    approval_tiers: tuple[ApprovalTier, ...] = ()
    # A return moves on the carrier's tracking scans (pickup, delivery), and refund on scan waits for
    # the carrier's pickup scan; False in policies recorded before carriers reported to the platform.
    carrier_scans: bool = False
    # Divides every limit; 1 in production. A test or benchmark policy shortens the timers with it.
    time_scale: int = Field(default=1, ge=1)

    # The platform's own handling time of a case, from intake to the resolution executed. It pauses
    # while the case waits on the customer (or the carrier); on breach the supervisor is told.
    platform_limit: StepLimit = Field(default_factory=_platform_limit)
    # Judge a dispute against the party that missed the evidence deadline when the other gave evidence.
    dispute_auto_judgment: bool = True

    # A higher priority shortens the limits the platform and the merchant owe (DESIGN §9): each such
    # limit's hours times the priority's factor, never below `priority_min_hours` (a limit already
    # shorter than that keeps its length). Customer, carrier and evidence limits are never shortened:
    # a case's priority is the platform's promise, not less time for the customer.
    priority_factors: dict[Priority, Decimal] = Field(default_factory=_default_factors)
    priority_min_hours: Decimal = Field(default=Decimal("1"), gt=0, le=24)
    # The priority whose factors `limits` and `platform_limit` already carry (for_priority); None: none.
    priority: Priority | None = None

    @model_validator(mode="after")
    def _workable(self) -> CasePolicy:
        """Refuse a policy that cannot work, naming the field (the API answers 422 with it)."""
        problems = breach_problems(self.limits)
        problems += tier_problems(self.approval_tiers)
        if self.platform_limit.on_breach != "escalate":
            problems.append("platform_limit.on_breach: the platform clock can only escalate")
        currencies = {
            self.refund_approval_threshold.currency,
            self.compensation_approval_threshold.currency,
            self.compensation_cap.currency,
        }
        if len(currencies) > 1:
            problems.append("thresholds and compensation_cap must share one currency")
        for priority in PRIORITIES:
            factor = self.priority_factors.get(priority)
            if factor is None:
                problems.append(f"priority_factors.{priority}: missing")
            elif not Decimal(0) < factor <= Decimal(1):
                problems.append(f"priority_factors.{priority}: must be above 0 and at most 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def limit(self, step: Step) -> StepLimit | None:
        """The step's limit; None for a step that waits on nobody (it takes no clock)."""
        if spec_of(step).limit is None:
            return None
        return self.limits.get(step) or DEFAULT_LIMITS[step]

    def breach_action(self, step: Step) -> BreachAction:
        limit = self.limit(step)
        if step == Step.MERCHANT_VERIFICATION:
            return self.merchant_timeout_action
        return limit.on_breach if limit is not None else "escalate"

    def for_priority(self, priority: Priority) -> CasePolicy:
        """This policy with the limits of a case of `priority`: the platform's and the merchant's
        limits (and the platform clock) times the priority's factor, in exact Decimal arithmetic,
        never below `priority_min_hours`. Applied once: a policy that already carries a priority's
        limits is returned as it is."""
        if self.priority is not None:
            return self
        factor = self.priority_factors[priority]
        if factor == 1:
            return self.model_copy(update={"priority": priority})
        limits = {
            step: self._shortened(limit, factor) if spec_of(step).breaches else limit
            for step, limit in {**DEFAULT_LIMITS, **self.limits}.items()
        }
        return self.model_copy(
            update={
                "limits": limits,
                "platform_limit": self._shortened(self.platform_limit, factor),
                "priority": priority,
            }
        )

    def _shortened(self, limit: StepLimit, factor: Decimal) -> StepLimit:
        floor = min(limit.hours, self.priority_min_hours)
        return limit.model_copy(update={"hours": max(limit.hours * factor, floor)})


DEFAULT_POLICY = CasePolicy()
