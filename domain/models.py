"""Request, action and view models shared by the API, the workflow and the activities.

Field names are the contract of DESIGN §6: add fields freely, rename none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, model_validator

from domain.enums import (
    Action,
    CaseStatus,
    Channel,
    CloseReason,
    IssueType,
    Liability,
    Priority,
    Reason,
    Resolution,
    Step,
)
from domain.modelbase import DomainModel
from domain.money import MAX_AMOUNT, Money, PositiveMoney
from domain.policy import CasePolicy
from domain.sla import ClockExplanation

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


# Dates an order can carry: the business calendar (and its holiday data) answers from 2000 to 2100.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


OrderDatetime = Annotated[AwareDatetime, AfterValidator(_plausible)]


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("url must start with https:// or http://")
    return value


class Contract(DomainModel):
    """Base of every inbound payload: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderLine(Contract):
    line_id: Identifier
    sku: Identifier
    name: ShortText
    category: Identifier
    quantity: int = Field(ge=1, le=10_000)
    unit_price: PositiveMoney

    @model_validator(mode="after")
    def _total_fits(self) -> OrderLine:
        if self.unit_price.amount * self.quantity > MAX_AMOUNT:
            raise ValueError(f"line total (quantity × unit price) must not exceed {MAX_AMOUNT}")
        return self

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


class Order(Contract):
    order_id: Identifier
    merchant_id: Identifier
    customer_id: Identifier
    paid_at: OrderDatetime
    delivered_at: OrderDatetime | None = None
    payment_method: Identifier
    # Where the order ships from or is served (e.g. "CN-GD"); a holiday freeze can select by it.
    region: Identifier | None = None
    # A VIP order (from the shop front's membership data) raises the case's priority (DESIGN §9).
    vip: bool = False
    lines: list[OrderLine] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        ids = [line.line_id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("order line ids must be unique")
        currencies = {line.unit_price.currency for line in self.lines}
        if len(currencies) > 1:
            raise ValueError("all order lines must be priced in one currency")
        if sum(line.unit_price.amount * line.quantity for line in self.lines) > MAX_AMOUNT:
            raise ValueError(f"order total must not exceed {MAX_AMOUNT}")
        if self.delivered_at is not None and self.delivered_at < self.paid_at:
            raise ValueError("delivered_at must not be before paid_at")
        return self


class Evidence(Contract):
    kind: Literal["image", "video", "document", "text"]
    url: Annotated[str, Field(min_length=8, max_length=2000), AfterValidator(_http_url)]
    note: str | None = Field(default=None, max_length=500)


class Contact(Contract):
    name: ShortText | None = None
    phone: Annotated[str, Field(max_length=40, pattern=r"^\+?[0-9 ()-]{5,40}$")] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    # How the customer wants the platform's messages (DESIGN §9): SMS by default when a phone is given,
    # else app push to the customer's account.
    channel: Literal["sms", "email", "push"] | None = None


class CaseRequest(Contract):
    """POST /v1/cases."""

    order: Order
    line_ids: list[Identifier] = Field(min_length=1, max_length=200)
    issue_type: IssueType
    reason: Reason
    description: LongText = ""
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)
    contact: Contact = Field(default_factory=Contact)
    channel: Channel = Channel.APP
    # The caller's priority: the floor of the case's priority, which intake may raise (domain.routing).
    priority: Priority = "normal"
    customer_standing: Literal["good", "normal", "watch"] = Field(
        default="normal", description="from the platform's risk system; `good` allows refund on return scan"
    )

    @model_validator(mode="after")
    def _lines_exist(self) -> CaseRequest:
        known = {line.line_id for line in self.order.lines}
        unknown = [line_id for line_id in self.line_ids if line_id not in known]
        if unknown:
            raise ValueError(f"line_ids not in the order: {', '.join(unknown)}")
        if len(set(self.line_ids)) != len(self.line_ids):
            raise ValueError("line_ids must be unique")
        return self

    @property
    def claimed_lines(self) -> list[OrderLine]:
        return [line for line in self.order.lines if line.line_id in self.line_ids]

    @property
    def paid_total(self) -> Money:
        lines = self.claimed_lines
        total = Money.zero(lines[0].unit_price.currency)
        for line in lines:
            total = total + line.total
        return total


# --- human actions (DESIGN §6) -------------------------------------------------------------


class CustomerInfo(Contract):
    description: LongText | None = None
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)
    contact: Contact | None = None


class MerchantResponse(Contract):
    accepts_claim: bool
    comment: LongText = ""
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)


class ProposalOption(Contract):
    resolution: Resolution
    refund: PositiveMoney | None = None
    compensation: PositiveMoney | None = None
    note: LongText = ""

    @model_validator(mode="after")
    def _amounts_fit(self) -> ProposalOption:
        money_back = {Resolution.RETURN_AND_REFUND, Resolution.REFUND_ONLY, Resolution.PARTIAL_REFUND}
        if self.resolution in money_back and self.refund is None:
            raise ValueError(f"resolution {self.resolution.value} needs a refund amount")
        if self.resolution not in money_back and self.refund is not None:
            raise ValueError(f"resolution {self.resolution.value} does not refund money")
        if self.resolution == Resolution.COMPENSATION and self.compensation is None:
            raise ValueError("resolution compensation needs a compensation amount")
        if self.resolution == Resolution.REJECT and self.compensation is not None:
            raise ValueError("resolution reject cannot carry compensation")
        return self


class Proposal(Contract):
    liability: Liability
    options: list[ProposalOption] = Field(min_length=1, max_length=3)


class Approval(Contract):
    decision: Literal["approve", "reject"]
    comment: LongText = ""
    # Set by the API, never by the caller: the away approver a delegate approves for (DESIGN §13).
    on_behalf_of: Identifier | None = None


class CustomerDecision(Contract):
    accept_option: int | None = Field(default=None, ge=0, le=2)
    decline: bool = False
    reason: LongText = ""

    @model_validator(mode="after")
    def _one_choice(self) -> CustomerDecision:
        if (self.accept_option is None) == (not self.decline):
            raise ValueError("give either accept_option or decline: true")
        return self


class ReturnShipment(Contract):
    carrier: ShortText
    tracking_no: Identifier


class ReturnDelivered(Contract):
    pass


class OutboundDelivered(Contract):
    pass


class Inspection(Contract):
    passed: bool
    note: LongText = ""


class ReplacementShipment(Contract):
    carrier: ShortText
    tracking_no: Identifier


class Escalation(Contract):
    reason: LongText = Field(min_length=1)


class DisputeEvidence(Contract):
    """A party's statement and evidence for the dispute team, within the dispute evidence deadline."""

    party: Literal["customer", "merchant"]
    statement: LongText = Field(min_length=1)
    evidence: list[Evidence] = Field(min_length=1, max_length=20)


class DisputeRuling(Contract):
    liability: Liability
    resolution: ProposalOption
    comment: LongText = ""


class Withdrawal(Contract):
    reason: LongText = ""


class SecondRemedy(Contract):
    """The callback found the customer's problem not solved: the case goes back to the agent's
    proposal, under the usual approvals (002 一(四))."""

    reason: LongText = Field(min_length=1)


class Appeal(Contract):
    reason: LongText = Field(min_length=1)
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)


class Survey(Contract):
    csat: int = Field(ge=1, le=5)
    nps: int = Field(ge=0, le=10)
    comment: LongText = ""


class Note(Contract):
    text: LongText = Field(min_length=1)
    visibility: Literal["internal", "customer", "merchant"] = "internal"


PersonIdText = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]


class Claim(Contract):
    """An agent takes the case. The API fills `person_id` with the caller's own."""

    person_id: PersonIdText | None = None


class Assign(Contract):
    """A supervisor gives the case to a person (also a reassignment)."""

    person_id: PersonIdText


class Release(Contract):
    """The case goes back to its queue. The API fills who releases and whether as a supervisor (who
    may release anyone's); an agent releases only their own."""

    person_id: PersonIdText | None = None
    as_supervisor: bool = False
    reason: str | None = Field(default=None, max_length=200)  # recorded on the event (a hand-back's)


ACTION_PAYLOADS: dict[Action, type[Contract]] = {
    Action.CUSTOMER_INFO: CustomerInfo,
    Action.MERCHANT_RESPONSE: MerchantResponse,
    Action.PROPOSAL: Proposal,
    Action.APPROVAL: Approval,
    Action.CUSTOMER_DECISION: CustomerDecision,
    Action.RETURN_SHIPMENT: ReturnShipment,
    Action.RETURN_DELIVERED: ReturnDelivered,
    Action.INSPECTION: Inspection,
    Action.REPLACEMENT_SHIPMENT: ReplacementShipment,
    Action.OUTBOUND_DELIVERED: OutboundDelivered,
    Action.ESCALATION: Escalation,
    Action.DISPUTE_EVIDENCE: DisputeEvidence,
    Action.DISPUTE_RULING: DisputeRuling,
    Action.WITHDRAWAL: Withdrawal,
    Action.APPEAL: Appeal,
    Action.SURVEY: Survey,
    Action.NOTES: Note,
    Action.SECOND_REMEDY: SecondRemedy,
    Action.CLAIM: Claim,
    Action.ASSIGN: Assign,
    Action.RELEASE: Release,
}


class ActionEnvelope(DomainModel):
    """What the API sends to the workflow: the action, its payload and who acts."""

    model_config = ConfigDict(frozen=True)

    action: Action
    payload: dict[str, object] = Field(default_factory=dict)
    actor: str = "system"
    request_id: str | None = None


# --- the view of a case --------------------------------------------------------------------


class TimelineEntry(DomainModel):
    at: datetime
    step: Step
    kind: str
    actor: str
    summary: str


class CaseView(DomainModel):
    """What GET /v1/cases/{id} and every action endpoint return."""

    case_id: str
    workflow_id: str
    status: CaseStatus
    step: Step
    close_reason: CloseReason | None = None
    issue_type: IssueType
    reason: Reason
    order_id: str
    merchant_id: str
    liability: Liability | None = None
    options: list[ProposalOption] = Field(default_factory=list)
    chosen_option: int | None = None
    paid: Money
    refunded: Money
    refundable: Money | None = Field(
        default=None, description="what is left to refund on the claimed order lines, across all their cases"
    )
    deadlines: dict[str, datetime] = Field(default_factory=dict)
    sla_breached: bool = False
    sla: list[ClockExplanation] = Field(
        default_factory=list, description="per running or breached step: limit, calendar, time used, due"
    )
    reason_codes: list[str] = Field(default_factory=list, description="why automatic decisions were taken")
    return_tracking_no: str | None = None
    approval_tier: str | None = Field(
        default=None, description="who approves the decision waiting for approval: supervisor or manager"
    )
    policy_version: str | None = Field(
        default=None, description="the policy version the case started on and keeps (DESIGN §13)"
    )
    outbound_tracking_no: str | None = Field(
        default=None, description="replacement, resent part or repaired item"
    )
    compensated: Money | None = None
    appealed: bool = False
    callback_at: datetime | None = Field(default=None, description="when the agent calls the customer back")
    assigned_to: str | None = Field(default=None, description="the person working the case (DESIGN §9)")
    # Set at intake (domain.routing); None in views of cases opened before routing existed.
    queue: str | None = Field(default=None, description="the queue the routing rules put the case in")
    priority: Priority | None = Field(
        default=None, description="derived at intake, never below the given one"
    )
    priority_reason: str | None = Field(default=None, description="what raised the priority, if anything")
    timeline: list[TimelineEntry] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


# --- what the workflow writes to the case store ---------------------------------------------


class CaseEvent(DomainModel):
    """One audit-trail entry. `seq` is assigned by the workflow, so a retried write is a no-op."""

    case_id: str
    seq: int = Field(ge=1)
    at: datetime
    kind: str
    step: Step
    actor: str
    summary: str
    payload: dict[str, object] = Field(default_factory=dict)

    @property
    def event_key(self) -> str:
        return f"{self.case_id}:{self.seq}"


class CaseProjection(DomainModel):
    """The row the API lists and filters. `version` only grows; older writes are ignored."""

    version: int = Field(ge=1)
    customer_id: str
    priority: str = "normal"
    assigned_to: str | None = None
    view: CaseView


class CaseProgress(DomainModel):
    """One store write per workflow transition: the new projection and the events since the last."""

    projection: CaseProjection
    events: list[CaseEvent] = Field(default_factory=list)


class OutboxMessage(DomainModel):
    """A notification to send, written with the case's store write (a transactional outbox) and
    delivered at least once by the worker's relay, always with the same idempotency key."""

    idempotency_key: str = Field(min_length=1, max_length=200)
    case_id: str | None  # None for a message of no case (a daily or weekly report)
    recipient_role: str
    template: str
    message: str


class CaseDelta(DomainModel):
    """One store write of a case: what changed since the previous one, never the whole view.

    `view` holds the changed top-level fields of the case view (JSON); the store merges them into
    the stored view and appends the new events' entries to its timeline. `version` grows by one per
    write of a case, so a retried (or replayed) write whose version is stored changes nothing; events
    insert once by (case_id, seq) and messages once by their idempotency key.
    """

    case_id: str
    version: int = Field(ge=1)
    view: dict[str, Any] = Field(default_factory=dict)
    events: list[CaseEvent] = Field(default_factory=list)
    notifications: list[OutboxMessage] = Field(default_factory=list)
    priority: str | None = None
    assigned_to: str | None = None


class CaseInput(DomainModel):
    """The case workflow's input: the validated request plus what the API decided at intake."""

    case_id: str
    request: CaseRequest
    received_at: datetime
    created_by: str = "system"
    policy: CasePolicy = Field(default_factory=CasePolicy)
    # What earlier cases already refunded on the claimed order lines (DESIGN §8): this case may
    # refund at most what was paid for them minus this. None in inputs recorded before it existed.
    already_refunded: Money | None = None
    # Decided at intake (domain.routing); None in inputs recorded before routing existed. The policy
    # above already carries the limits of this priority (CasePolicy.for_priority).
    queue: str | None = None
    priority: Priority | None = None
    priority_reason: str | None = None
