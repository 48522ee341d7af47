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
    for option in options:
        if option.resolution == Resolution.REJECT:
            return True
        if _over(option.refund, policy.refund_approval_threshold):
            return True
        if _over(option.compensation, policy.compensation_approval_threshold):
            return True
    return False


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
