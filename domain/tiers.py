"""Approval tiers (DESIGN §13): who approves an amount, with the tier's own limit and escalation. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from domain.modelbase import DomainModel
from domain.money import Money
from domain.steps import StepLimit

TierRole = Literal["supervisor", "manager"]
# Who may approve a tier: the tier's role and every role above it.
APPROVERS: dict[TierRole, frozenset[str]] = {
    "supervisor": frozenset({"supervisor", "manager"}),
    "manager": frozenset({"manager"}),
}
# Who hears of an approval left 25 % past its tier's limit: one level up from the tier's role. A
# supervisor tier escalates to the managers when the policy has a manager tier (else to the
# supervisors' managers, as an approval without tiers does); a manager tier to ops, the level above.
SUPERVISOR_ESCALATION = "supervisor_manager"
MANAGER_ESCALATION = "ops"


class ApprovalTier(DomainModel):
    """Amounts up to `up_to` (None: any amount above the tiers before) are approved by `role`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: TierRole
    up_to: Money | None = None
    # The approval step's limit while this tier approves; its breach escalates one level up.
    limit: StepLimit = Field(
        default_factory=lambda: StepLimit(hours=Decimal("4"), basis="working", who_acts="supervisor")
    )


def tier_problems(tiers: Sequence[ApprovalTier]) -> list[str]:
    """Why tiers cannot work, each naming the field: overlapping or unordered bounds, an open tier that
    is not the last, two tiers of one role, mixed currencies, an escalation that is not `escalate`."""
    problems: list[str] = []
    roles: set[str] = set()
    currencies = {t.up_to.currency for t in tiers if t.up_to is not None}
    if len(currencies) > 1:
        problems.append("approval_tiers: every up_to must be in one currency")
    previous: Money | None = None
    for index, tier in enumerate(tiers):
        where = f"approval_tiers.{index}"
        if tier.role in roles:
            problems.append(f"{where}.role: {tier.role} has two tiers")
        roles.add(tier.role)
        if tier.limit.on_breach != "escalate":
            problems.append(f"{where}.limit.on_breach: an approval can only escalate")
        if tier.up_to is None:
            if index != len(tiers) - 1:
                problems.append(f"{where}.up_to: only the last tier may be open-ended (tiers overlap)")
            continue
        if previous is not None and previous.currency == tier.up_to.currency and tier.up_to <= previous:
            problems.append(f"{where}.up_to: {tier.up_to} overlaps the tier before (up to {previous})")
        previous = tier.up_to
    return problems


def tier_for(tiers: Sequence[ApprovalTier], amount: Money | None) -> ApprovalTier | None:
    """The tier that approves `amount` (the first whose bound holds it); None without tiers. An amount
    above every bound, or in another currency, goes to the last tier."""
    if not tiers:
        return None
    if amount is None:
        return tiers[0]
    for tier in tiers:
        if tier.up_to is None:
            return tier
        if tier.up_to.currency == amount.currency and amount <= tier.up_to:
            return tier
    return tiers[-1]


def tier_audit(tier: ApprovalTier | None, on_behalf_of: str | None) -> dict[str, object]:
    """What an approval's audit event says of its tier: the tier, and whom a delegate acted for."""
    if tier is None:
        return {}
    return {"tier": tier.role} | ({"on_behalf_of": on_behalf_of} if on_behalf_of is not None else {})


def escalation_role(tiers: Sequence[ApprovalTier], role: str) -> str:
    """One level up from `role`, the approver of one of `tiers` (see `SUPERVISOR_ESCALATION`)."""
    if role == "manager":
        return MANAGER_ESCALATION
    return "manager" if any(t.role == "manager" for t in tiers) else SUPERVISOR_ESCALATION


def may_approve(tier: ApprovalTier | None, role: str) -> bool:
    """Whether someone of `role` approves at `tier` (without tiers: a supervisor or a manager)."""
    return role in APPROVERS[tier.role if tier is not None else "supervisor"]
