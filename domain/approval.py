"""Who must approve, who pays return shipping: rules of DESIGN §2 as pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from domain.enums import Liability, Resolution
from domain.models import CaseRequest, ProposalOption
from domain.money import Money
from domain.policy import CasePolicy

SHIPPING_PAYER: dict[Liability, str] = {
    Liability.MERCHANT: "merchant",
    Liability.CUSTOMER: "customer",
    Liability.LOGISTICS: "platform",  # the platform advances it and claims from the carrier
    Liability.FORCE_MAJEURE: "platform",  # case by case; the platform carries it by default
}


def needs_approval(options: Sequence[ProposalOption], policy: CasePolicy) -> bool:
    """Refund above its threshold, compensation above its threshold, or any rejection."""
    return any(o.resolution == Resolution.REJECT for o in options) or amounts_need_approval(options, policy)


def amounts_need_approval(options: Sequence[ProposalOption], policy: CasePolicy) -> bool:
    """A refund or a compensation above its threshold (a dispute ruling needs approval for these)."""
    return any(
        _over(option.refund, policy.refund_approval_threshold)
        or _over(option.compensation, policy.compensation_approval_threshold)
        for option in options
    )


def approval_amount(options: Sequence[ProposalOption]) -> Money | None:
    """The largest amount a decision moves (a refund or a compensation): its approval tier's measure.
    None for a decision that moves no money (a rejection)."""
    amounts = [m for o in options for m in (o.refund, o.compensation) if m is not None]
    if not amounts:
        return None
    currency = amounts[0].currency
    return max((m for m in amounts if m.currency == currency), key=lambda m: m.amount)


def option_problem(
    option: ProposalOption, currency: str, refundable: Money, policy: CasePolicy
) -> str | None:
    """Why an option's amounts cannot be executed, or None: the case's currency, at most the
    refundable rest of the claimed order lines, compensation at most the policy's cap."""
    for money in (option.refund, option.compensation):
        if money is not None and money.currency != currency:
            return f"amounts must be in {currency}, the currency the order was paid in"
    if option.refund is not None and option.refund > refundable:
        if refundable.amount == 0:
            return "nothing is left to refund on the claimed order lines: a refund cannot be offered"
        return (
            f"refund {option.refund} exceeds what is left to refund on the claimed order lines ({refundable})"
        )
    cap = policy.compensation_cap
    if option.compensation is not None and (
        option.compensation.currency != cap.currency or option.compensation > cap
    ):
        return f"compensation {option.compensation} exceeds the policy's cap of {cap}"
    return None


def _over(amount: Money | None, threshold: Money) -> bool:
    # A threshold in another currency cannot be compared: such amounts always need approval.
    return amount is not None and (amount.currency != threshold.currency or amount > threshold)


def return_shipping_payer(liability: Liability | None) -> str:
    return SHIPPING_PAYER.get(liability, "merchant") if liability else "merchant"


def refund_on_scan(option: ProposalOption, request: CaseRequest, policy: CasePolicy) -> bool:
    """Pay a return-and-refund when the carrier scans the return, not after inspection."""
    paid = request.paid_total
    return (
        option.resolution == Resolution.RETURN_AND_REFUND
        and option.refund is not None
        and request.customer_standing == "good"
        and paid.currency == policy.refund_on_scan_max.currency
        and paid <= policy.refund_on_scan_max
    )
