"""Published limits and thresholds of the process (DESIGN §2): one configurable policy per case.

The policy travels into the workflow as input, so a running case keeps the policy it started
with (its `version` is shown when a case explains a deadline).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.enums import Step
from domain.money import Money

Basis = Literal["working", "calendar"]
BreachAction = Literal[
    "escalate", "auto_accept", "auto_close", "auto_pass", "accept_first_option", "auto_judge"
]


class StepLimit(BaseModel):
    model_config = ConfigDict(frozen=True)

    hours: Decimal = Field(gt=0)
    basis: Basis = "working"
    calendar: str = "business"
    on_breach: BreachAction = "escalate"
    who_acts: str = "agent"

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=float(self.hours * 3600))

    def describe(self) -> str:
        unit = "working h" if self.basis == "working" else "h"
        return f"{self.hours.normalize():f} {unit}"


def _limit(
    hours: str, basis: Basis, on_breach: BreachAction, who: str, calendar: str = "business"
) -> StepLimit:
    return StepLimit(hours=Decimal(hours), basis=basis, calendar=calendar, on_breach=on_breach, who_acts=who)


DEFAULT_LIMITS: dict[Step, StepLimit] = {
    Step.PRELIMINARY_REVIEW: _limit("2", "working", "escalate", "agent", "service_desk"),
    Step.AWAITING_CUSTOMER_INFO: _limit("72", "calendar", "auto_close", "customer"),
    Step.MERCHANT_VERIFICATION: _limit("24", "working", "auto_accept", "merchant"),
    Step.LIABILITY_AND_PROPOSAL: _limit("8", "working", "escalate", "agent"),
    Step.AWAITING_APPROVAL: _limit("4", "working", "escalate", "supervisor"),
    Step.AWAITING_CUSTOMER_DECISION: _limit("72", "calendar", "accept_first_option", "customer"),
    # Both parties may give evidence; one that misses the deadline while the other gave it loses.
    Step.DISPUTE_EVIDENCE: _limit("48", "working", "auto_judge", "parties"),
    Step.DISPUTE: _limit("48", "working", "escalate", "dispute"),
    Step.AWAITING_RETURN_SHIPMENT: _limit("168", "calendar", "auto_close", "customer"),
    Step.RETURN_IN_TRANSIT: _limit("360", "calendar", "escalate", "system"),
    Step.AWAITING_INSPECTION: _limit("48", "working", "auto_pass", "merchant"),
    Step.REFUNDING: _limit("24", "working", "escalate", "system"),
    Step.SHIPPING_REPLACEMENT: _limit("48", "working", "escalate", "merchant"),
    Step.REPAIRING: _limit("240", "working", "escalate", "merchant"),
    Step.RESENDING: _limit("48", "working", "escalate", "merchant"),
    Step.COMPENSATING: _limit("24", "working", "escalate", "system"),
    Step.FOLLOW_UP: _limit("168", "calendar", "auto_close", "customer"),
}


class CasePolicy(BaseModel):
    """Everything a case needs to decide limits, thresholds and windows."""

    model_config = ConfigDict(frozen=True)

    name: str = "default"
    version: str = "2026-11-2"
    limits: dict[Step, StepLimit] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    refund_approval_threshold: Money = Money(amount=Decimal("500.00"), currency="CNY")
    compensation_approval_threshold: Money = Money(amount=Decimal("50.00"), currency="CNY")
    no_reason_return_days: int = 7
    quality_exchange_days: int = 15
    warranty_days: int = 365
    appeal_window_days: int = 15
    merchant_timeout_action: Literal["auto_accept", "escalate"] = "auto_accept"
    # Orders up to this amount, from customers in good standing, are refunded on the return scan.
    refund_on_scan_max: Money = Money(amount=Decimal("100.00"), currency="CNY")
    # Divides every limit; 1 in production. A test or benchmark policy shortens the timers with it.
    time_scale: int = Field(default=1, ge=1)

    # The platform's own handling time of a case, from intake to the resolution executed. It pauses
    # while the case waits on the customer (or the carrier); on breach the supervisor is told.
    platform_limit: StepLimit = _limit("120", "working", "escalate", "supervisor")
    # Judge a dispute against the party that missed the evidence deadline when the other gave evidence.
    dispute_auto_judgment: bool = True

    def limit(self, step: Step) -> StepLimit:
        # A policy recorded before a step existed (a running case's input) gets the step's default.
        return self.limits.get(step) or DEFAULT_LIMITS[step]


DEFAULT_POLICY = CasePolicy()
