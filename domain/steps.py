"""The step table of DESIGN §2: who owes each step, what it waits for, its limit, what its limit may do.

One table, read by the policy (default limits, and which breach actions a policy may name), the
workflow (what each rung does) and the API (published limits). Pure data, no Temporal imports.

What a breach action does when a limit is reached:
- `escalate`: the limit is breached (recorded once, with how late) and the owner's superior is
  told; the step keeps waiting. At 125 % of the limit a platform step is escalated one level further
  up, and a merchant step leaves the merchant: the dispute team decides instead.
- `to_dispute`: the dispute team takes the case at the limit (a breach when the merchant owed it;
  for a parcel in transit, the carrier's lateness, not a breach).
- `auto_accept` (merchant verification): the customer's claim is accepted.
- `auto_pass` (inspection): the returned item passes.
- `auto_close` (customer steps): the step ends without the customer's answer (the case expires,
  or the survey closes without a score).
- `accept_first_option` (customer decision): the first option offered is taken.
- `auto_judge` (dispute evidence): judged against the party that gave no evidence.
- `lost_parcel` (return in transit): no carrier scan within the limit: the parcel is lost, a carrier
  claim is opened, liability is logistics and the platform advances the refund once. (Outbound in
  transit: the same, then the dispute team decides how the customer is made good; nothing is paid
  on the loss itself.)

Only the platform's and the merchant's limits breach (DESIGN §8): a customer, carrier or evidence
limit ends in an expiry or an automatic decision with a reason code, never in `SlaBreached`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from domain.enums import Action, Step
from domain.modelbase import DomainModel

Basis = Literal["working", "calendar"]
BreachAction = Literal[
    "escalate",
    "to_dispute",
    "auto_accept",
    "auto_close",
    "auto_pass",
    "accept_first_option",
    "auto_judge",
    "lost_parcel",
]
# Who owes the next move at a step.
Party = Literal["platform", "merchant", "customer", "carrier", "parties"]
BREACHING_PARTIES: frozenset[Party] = frozenset({"platform", "merchant"})


class StepLimit(DomainModel):
    model_config = ConfigDict(frozen=True)

    hours: Decimal = Field(gt=0, le=10_000)
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


@dataclass(frozen=True)
class StepSpec:
    step: Step
    party: Party | None  # None: nobody is waited on (the system passes through at once)
    waits_for: frozenset[Action]
    limit: StepLimit | None
    breach_actions: frozenset[BreachAction] = frozenset()

    @property
    def breaches(self) -> bool:
        """Whether missing this step's limit is an SLA breach (the platform or the merchant owed it)."""
        return self.party in BREACHING_PARTIES


def _limit(
    hours: str, basis: Basis, on_breach: BreachAction, who: str, calendar: str = "business"
) -> StepLimit:
    return StepLimit(hours=Decimal(hours), basis=basis, calendar=calendar, on_breach=on_breach, who_acts=who)


def _spec(
    step: Step,
    party: Party | None,
    waits_for: set[Action],
    limit: StepLimit | None = None,
    *breach_actions: BreachAction,
) -> StepSpec:
    return StepSpec(step, party, frozenset(waits_for), limit, frozenset(breach_actions))


A = Action
STEP_TABLE: dict[Step, StepSpec] = {
    spec.step: spec
    for spec in (
        _spec(Step.SUBMITTED, None, set()),
        # Automatic and immediate: it ends at intake, so no limit is published for it.
        _spec(Step.PRELIMINARY_REVIEW, None, set()),
        _spec(
            Step.AWAITING_CUSTOMER_INFO, "customer", {A.CUSTOMER_INFO},
            _limit("72", "calendar", "auto_close", "customer"), "auto_close",
        ),
        _spec(
            Step.MERCHANT_VERIFICATION, "merchant", {A.MERCHANT_RESPONSE},
            _limit("24", "working", "auto_accept", "merchant"), "auto_accept", "escalate", "to_dispute",
        ),
        _spec(
            Step.LIABILITY_AND_PROPOSAL, "platform", {A.PROPOSAL},
            _limit("8", "working", "escalate", "agent"), "escalate",
        ),
        _spec(
            Step.AWAITING_APPROVAL, "platform", {A.APPROVAL},
            _limit("4", "working", "escalate", "supervisor"), "escalate",
        ),
        _spec(
            Step.AWAITING_CUSTOMER_DECISION, "customer", {A.CUSTOMER_DECISION},
            _limit("72", "calendar", "accept_first_option", "customer"), "accept_first_option",
        ),
        _spec(
            Step.DISPUTE_EVIDENCE, "parties", {A.DISPUTE_EVIDENCE, A.DISPUTE_RULING},
            _limit("48", "working", "auto_judge", "parties"), "auto_judge",
        ),
        _spec(
            Step.DISPUTE, "platform", {A.DISPUTE_RULING},
            _limit("48", "working", "escalate", "dispute"), "escalate",
        ),
        _spec(
            Step.AWAITING_RETURN_SHIPMENT, "customer", {A.RETURN_SHIPMENT},
            _limit("168", "calendar", "auto_close", "customer"), "auto_close",
        ),
        # A parcel that never arrives must not stall the case: the dispute team decides.
        _spec(
            Step.RETURN_IN_TRANSIT, "carrier", {A.RETURN_DELIVERED},
            _limit("360", "calendar", "to_dispute", "merchant"), "to_dispute", "lost_parcel",
        ),
        _spec(
            Step.AWAITING_INSPECTION, "merchant", {A.INSPECTION},
            _limit("48", "working", "auto_pass", "merchant"), "auto_pass", "escalate", "to_dispute",
        ),
        # The refund must start within 24 working h of its trigger; it runs while the clock does.
        _spec(
            Step.REFUNDING, "platform", set(),
            _limit("24", "working", "escalate", "supervisor"), "escalate",
        ),
        _spec(
            Step.SHIPPING_REPLACEMENT, "merchant", {A.REPLACEMENT_SHIPMENT},
            _limit("48", "working", "escalate", "merchant"), "escalate", "to_dispute",
        ),
        _spec(
            Step.REPAIRING, "merchant", {A.REPLACEMENT_SHIPMENT},
            _limit("240", "working", "escalate", "merchant"), "escalate", "to_dispute",
        ),
        _spec(
            Step.RESENDING, "merchant", {A.REPLACEMENT_SHIPMENT},
            _limit("48", "working", "escalate", "merchant"), "escalate", "to_dispute",
        ),
        # The merchant's parcel to the customer, when the carrier's scans move it (policy `carrier_scans`):
        # no scan within the limit and it is lost.
        _spec(
            Step.OUTBOUND_IN_TRANSIT, "carrier", {A.OUTBOUND_DELIVERED},
            _limit("360", "calendar", "lost_parcel", "merchant"), "lost_parcel", "to_dispute",
        ),
        _spec(
            Step.COMPENSATING, "platform", set(),
            _limit("24", "working", "escalate", "supervisor"), "escalate",
        ),
        _spec(
            Step.FOLLOW_UP, "customer", {A.SURVEY, A.SECOND_REMEDY},
            _limit("168", "calendar", "auto_close", "customer"), "auto_close",
        ),
        _spec(Step.CLOSED, None, set()),
    )
}  # fmt: skip

# Steps that wait on an agent (`who_acts`): a case entering one is auto-assigned (DESIGN §9).
AGENT = "agent"
AGENT_STEPS: frozenset[Step] = frozenset(
    step for step, spec in STEP_TABLE.items() if spec.limit is not None and spec.limit.who_acts == AGENT
)

DEFAULT_LIMITS: dict[Step, StepLimit] = {
    step: spec.limit for step, spec in STEP_TABLE.items() if spec.limit is not None
}


def spec_of(step: Step) -> StepSpec:
    return STEP_TABLE[step]


def breach_problems(limits: dict[Step, StepLimit]) -> list[str]:
    """Why a policy's limits cannot work: a limit on a step that takes none, or a breach action the
    step cannot take. Each problem names the field."""
    problems: list[str] = []
    for step, limit in limits.items():
        spec = STEP_TABLE[step]
        if spec.limit is None:
            problems.append(f"limits.{step}: step {step} takes no limit")
        elif limit.on_breach not in spec.breach_actions:
            allowed = ", ".join(sorted(spec.breach_actions))
            problems.append(f"limits.{step}.on_breach: {step} cannot {limit.on_breach}; it can: {allowed}")
    return problems
