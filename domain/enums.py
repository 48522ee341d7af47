"""The vocabulary of the after-sales process (DESIGN §2, §6). Values are the API contract."""

from enum import StrEnum
from typing import Literal, get_args


class IssueType(StrEnum):
    RETURN_AND_REFUND = "return_and_refund"
    REFUND_ONLY = "refund_only"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    RESEND = "resend"
    COMPENSATION = "compensation"
    COMPLAINT = "complaint"


class Reason(StrEnum):
    QUALITY_ISSUE = "quality_issue"
    NOT_AS_DESCRIBED = "not_as_described"
    WRONG_ITEM = "wrong_item"
    MISSING_ITEM = "missing_item"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    NOT_DELIVERED = "not_delivered"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class Channel(StrEnum):
    APP = "app"
    WEB = "web"
    HOTLINE = "hotline"
    CHAT = "chat"
    EMAIL = "email"


Priority = Literal["low", "normal", "high", "urgent"]
# Lowest first: a case's priority is never lowered below the one its caller gave (DESIGN §9).
PRIORITIES: tuple[Priority, ...] = get_args(Priority)


def priority_rank(priority: Priority) -> int:
    return PRIORITIES.index(priority)


class Resolution(StrEnum):
    RETURN_AND_REFUND = "return_and_refund"
    REFUND_ONLY = "refund_only"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    RESEND = "resend"
    PARTIAL_REFUND = "partial_refund"
    COMPENSATION = "compensation"
    REJECT = "reject"


class Liability(StrEnum):
    MERCHANT = "merchant"
    LOGISTICS = "logistics"
    CUSTOMER = "customer"
    FORCE_MAJEURE = "force_majeure"


class Step(StrEnum):
    """Fine-grained workflow steps (DESIGN §2)."""

    SUBMITTED = "submitted"
    PRELIMINARY_REVIEW = "preliminary_review"
    AWAITING_CUSTOMER_INFO = "awaiting_customer_info"
    MERCHANT_VERIFICATION = "merchant_verification"
    LIABILITY_AND_PROPOSAL = "liability_and_proposal"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_CUSTOMER_DECISION = "awaiting_customer_decision"
    DISPUTE_EVIDENCE = "dispute_evidence"
    DISPUTE = "dispute"
    AWAITING_RETURN_SHIPMENT = "awaiting_return_shipment"
    RETURN_IN_TRANSIT = "return_in_transit"
    AWAITING_INSPECTION = "awaiting_inspection"
    REFUNDING = "refunding"
    SHIPPING_REPLACEMENT = "shipping_replacement"
    REPAIRING = "repairing"
    RESENDING = "resending"
    # The replacement, repaired item or part on its way to the customer, moved by the carrier's scans.
    OUTBOUND_IN_TRANSIT = "outbound_in_transit"
    COMPENSATING = "compensating"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"


class CaseStatus(StrEnum):
    """Coarse ticket states of seed 001 §6."""

    PENDING = "pending"
    PROCESSING = "processing"
    AWAITING_CUSTOMER = "awaiting_customer"
    COMPLETED = "completed"
    CLOSED = "closed"


class CloseReason(StrEnum):
    RESOLVED = "resolved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"


class Actor(StrEnum):
    """Who may act on a case; also the API roles."""

    SYSTEM = "system"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    # Approves what is above the supervisor's tier (DESIGN §13).
    MANAGER = "manager"
    DISPUTE = "dispute"
    MERCHANT = "merchant"
    OPS = "ops"
    CUSTOMER = "customer"


class Action(StrEnum):
    """Human actions on a case: one workflow Update (and signal) each, one API endpoint each."""

    CUSTOMER_INFO = "customer_info"
    MERCHANT_RESPONSE = "merchant_response"
    PROPOSAL = "proposal"
    APPROVAL = "approval"
    CUSTOMER_DECISION = "customer_decision"
    RETURN_SHIPMENT = "return_shipment"
    RETURN_DELIVERED = "return_delivered"
    INSPECTION = "inspection"
    REPLACEMENT_SHIPMENT = "replacement_shipment"
    # The merchant's parcel reached the customer, confirmed by hand (a carrier without tracking).
    OUTBOUND_DELIVERED = "outbound_delivered"
    ESCALATION = "escalation"
    DISPUTE_EVIDENCE = "dispute_evidence"
    DISPUTE_RULING = "dispute_ruling"
    WITHDRAWAL = "withdrawal"
    APPEAL = "appeal"
    SURVEY = "survey"
    NOTES = "notes"
    # Who works the case (DESIGN §9): an agent claims it, a supervisor assigns or reassigns it, and the
    # assignee (or a supervisor) releases it back to its queue.
    # The next-day callback found the problem not solved (002 一(四)): the agent proposes again.
    SECOND_REMEDY = "second_remedy"
    CLAIM = "claim"
    ASSIGN = "assign"
    RELEASE = "release"

    @property
    def path(self) -> str:
        """The API path segment: `customer-info`, `merchant-response`, …"""
        return self.value.replace("_", "-")


STATUS_OF_STEP: dict[Step, CaseStatus] = {
    Step.SUBMITTED: CaseStatus.PENDING,
    Step.PRELIMINARY_REVIEW: CaseStatus.PENDING,
    Step.AWAITING_CUSTOMER_INFO: CaseStatus.AWAITING_CUSTOMER,
    Step.MERCHANT_VERIFICATION: CaseStatus.PROCESSING,
    Step.LIABILITY_AND_PROPOSAL: CaseStatus.PROCESSING,
    Step.AWAITING_APPROVAL: CaseStatus.PROCESSING,
    Step.AWAITING_CUSTOMER_DECISION: CaseStatus.AWAITING_CUSTOMER,
    Step.DISPUTE_EVIDENCE: CaseStatus.PROCESSING,
    Step.DISPUTE: CaseStatus.PROCESSING,
    Step.AWAITING_RETURN_SHIPMENT: CaseStatus.AWAITING_CUSTOMER,
    Step.RETURN_IN_TRANSIT: CaseStatus.PROCESSING,
    Step.AWAITING_INSPECTION: CaseStatus.PROCESSING,
    Step.REFUNDING: CaseStatus.PROCESSING,
    Step.SHIPPING_REPLACEMENT: CaseStatus.PROCESSING,
    Step.REPAIRING: CaseStatus.PROCESSING,
    Step.RESENDING: CaseStatus.PROCESSING,
    Step.OUTBOUND_IN_TRANSIT: CaseStatus.PROCESSING,
    Step.COMPENSATING: CaseStatus.PROCESSING,
    Step.FOLLOW_UP: CaseStatus.COMPLETED,
    Step.CLOSED: CaseStatus.CLOSED,
}
