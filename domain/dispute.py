"""Auto-judgment of a dispute whose evidence deadline passed (001 §3.3). Pure.

Taobao-style rule: when one party gave evidence within the deadline and the other did not, the
dispute is judged against the silent party. When both or neither gave evidence, the dispute team
decides; so does it for complaints and compensation claims, whose remedy needs a person to size.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from domain.enums import IssueType, Liability, Resolution
from domain.models import CaseRequest, ProposalOption
from domain.money import Money

# What the customer asked for, as the resolution a judgment in their favour executes.
CLAIMED_RESOLUTION: dict[IssueType, Resolution] = {
    IssueType.RETURN_AND_REFUND: Resolution.RETURN_AND_REFUND,
    IssueType.REFUND_ONLY: Resolution.REFUND_ONLY,
    IssueType.EXCHANGE: Resolution.EXCHANGE,
    IssueType.REPAIR: Resolution.REPAIR,
    IssueType.RESEND: Resolution.RESEND,
}
REFUNDING = {Resolution.RETURN_AND_REFUND, Resolution.REFUND_ONLY, Resolution.PARTIAL_REFUND}


@dataclass(frozen=True)
class Judgment:
    liability: Liability
    option: ProposalOption
    reason_code: str
    summary: str


def auto_judgment(
    parties_with_evidence: AbstractSet[str],
    request: CaseRequest,
    offered: list[ProposalOption],
    refundable: Money,
) -> Judgment | None:
    """The ruling when exactly one party gave evidence by the deadline; None when people must decide."""
    customer, merchant = "customer" in parties_with_evidence, "merchant" in parties_with_evidence
    if merchant and not customer:
        return Judgment(
            liability=Liability.CUSTOMER,
            option=ProposalOption(
                resolution=Resolution.REJECT,
                note="The dispute was decided against you: no evidence was given by the deadline.",
            ),
            reason_code="dispute_customer_missed_evidence_deadline",
            summary="customer gave no evidence by the deadline: judged for the merchant",
        )
    if not customer or merchant:
        return None
    option = _customer_claim(request, offered, refundable)
    if option is None:
        return None
    return Judgment(
        liability=Liability.MERCHANT,
        option=option,
        reason_code="dispute_merchant_missed_evidence_deadline",
        summary=f"merchant gave no evidence by the deadline: judged for the customer ({option.resolution})",
    )


def _customer_claim(
    request: CaseRequest, offered: list[ProposalOption], refundable: Money
) -> ProposalOption | None:
    """The first offered option that grants the claim, else the claim itself at the refundable rest."""
    wanted = CLAIMED_RESOLUTION.get(request.issue_type)
    if wanted is None:
        return None
    for option in offered:
        if option.resolution == wanted and (option.refund is None or option.refund <= refundable):
            return option
    refund = refundable if wanted in REFUNDING else None
    if refund is not None and refund.amount <= 0:
        return None
    return ProposalOption(
        resolution=wanted, refund=refund, note="Decided for you: the merchant gave no evidence in time."
    )
