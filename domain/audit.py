"""The audit vocabulary: every kind of event a case records, and the payload of the kinds that the
store, the reports or the API read. Pure; the workflow writes these, the store parses them.

Payload fields under `private` are personal free text (sealed at rest, shown by role).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field

from domain.enums import CloseReason, Step
from domain.modelbase import DomainModel


class EventKind(StrEnum):
    INTAKE = "intake"
    STEP = "step"
    REVIEW_PASSED = "review_passed"
    REVIEW_OUT_OF_SCOPE = "review_out_of_scope"
    INFO_REQUESTED = "info_requested"
    INFO_SUPPLIED = "info_supplied"
    MERCHANT_RESPONDED = "merchant_responded"
    AUTO_ACCEPTED = "auto_accepted"
    PROPOSED = "proposed"
    APPROVED = "approved"
    APPROVAL_REJECTED = "approval_rejected"
    REJECTION_OVERRULED = "rejection_overruled"
    OPTION_ACCEPTED = "option_accepted"
    DECLINED = "declined"
    ESCALATED = "escalated"
    DISPUTE_EVIDENCE = "dispute_evidence"
    DISPUTE_EVIDENCE_COMPLETE = "dispute_evidence_complete"
    DISPUTE_EVIDENCE_CLOSED = "dispute_evidence_closed"
    AUTO_JUDGED = "auto_judged"
    RULED = "ruled"
    RETURN_SHIPPED = "return_shipped"
    RETURN_DELIVERED = "return_delivered"
    INSPECTED = "inspected"
    AUTO_PASSED = "auto_passed"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"
    COMPENSATED = "compensated"
    REPLACEMENT_SHIPPED = "replacement_shipped"
    REPAIR_RETURN_SHIPPED = "repair_return_shipped"
    RESEND_SHIPPED = "resend_shipped"
    SURVEY_ANSWERED = "survey_answered"
    SURVEY_CLOSED = "survey_closed"
    CALLBACK_SCHEDULED = "callback_scheduled"
    WITHDRAWN = "withdrawn"
    APPEALED = "appealed"
    CLOSED = "closed"
    NOTE = "note"
    SLA_WARNING = "sla_warning"
    REMINDER = "reminder"
    SLA_BREACHED = "sla_breached"
    SLA_ESCALATED = "sla_escalated"
    LIMIT_REACHED = "limit_reached"
    UNDELIVERED = "undelivered"
    MERCHANT_OVERDUE = "merchant_overdue"
    DEADLINE_MOVED = "deadline_moved"
    CLOCK_FROZEN = "clock_frozen"
    CLOCK_THAWED = "clock_thawed"
    SIGNAL_IGNORED = "signal_ignored"
    NOTIFICATION_FAILED = "notification_failed"
    # Assignment (issue 15), the second remedy after a callback (issue 16), carriers (issue 19).
    CLAIMED = "claimed"
    ASSIGNED = "assigned"
    RELEASED = "released"
    SECOND_REMEDY = "second_remedy"
    CARRIER_SCAN = "carrier_scan"
    CARRIER_SCAN_IGNORED = "carrier_scan_ignored"
    RETURN_TRACKING_UPDATED = "return_tracking_updated"
    OUTBOUND_TRACKING_UPDATED = "outbound_tracking_updated"
    OUTBOUND_DELIVERED = "outbound_delivered"
    PARCEL_LOST = "parcel_lost"
    CARRIER_CLAIM_OPENED = "carrier_claim_opened"
    CARRIER_CLAIM_FAILED = "carrier_claim_failed"


class Payload(DomainModel):
    """Base of the typed payloads: fields a kind does not name are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def private_text(self, key: str) -> str:
        """Free text kept under `private` (or, in events recorded before, at the top level)."""
        private = getattr(self, "private", None) or (self.model_extra or {}).get("private") or {}
        return str(private.get(key) or (self.model_extra or {}).get(key) or "")


class StepPayload(Payload):
    to: Step


class ClosedPayload(Payload):
    reason: CloseReason


class ApprovalPayload(Payload):
    decision: Literal["approve", "reject"]
    private: dict[str, Any] = Field(default_factory=dict)

    @property
    def comment(self) -> str:
        return self.private_text("comment")


class SurveyPayload(Payload):
    csat: int = Field(ge=1, le=5)
    nps: int = Field(ge=0, le=10)
    private: dict[str, Any] = Field(default_factory=dict)

    @property
    def comment(self) -> str:
        return self.private_text("comment")


class NotePayload(Payload):
    visibility: Literal["internal", "customer", "merchant"] = "internal"
    private: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.private_text("text")


class BreachPayload(Payload):
    """A limit the platform or the merchant missed (DESIGN §8); `clock` is a step or `platform`."""

    clock: str | None = None
    party: str | None = None
    action: str = ""
    step_limit: str = ""
    due_at: datetime | None = None


class RefundedPayload(Payload):
    amount: Decimal
    currency: str
    provider_refund_id: str | None = None


class EvidencePayload(Payload):
    evidence: list[str] = Field(default_factory=list)


class CallbackPayload(Payload):
    """Seed 003: the agent calls the customer back on the next day the service desk works."""

    callback_at: datetime


PAYLOADS: dict[EventKind, type[Payload]] = {
    EventKind.STEP: StepPayload,
    EventKind.CLOSED: ClosedPayload,
    EventKind.APPROVED: ApprovalPayload,
    EventKind.APPROVAL_REJECTED: ApprovalPayload,
    EventKind.SURVEY_ANSWERED: SurveyPayload,
    EventKind.NOTE: NotePayload,
    EventKind.SLA_BREACHED: BreachPayload,
    EventKind.REFUNDED: RefundedPayload,
    EventKind.MERCHANT_RESPONDED: EvidencePayload,
    EventKind.DISPUTE_EVIDENCE: EvidencePayload,
    EventKind.CALLBACK_SCHEDULED: CallbackPayload,
}


def parse_payload(kind: str, payload: dict[str, Any]) -> Payload:
    """The typed payload of an event (a kind nobody reads gets the generic one)."""
    known = kind in EventKind.__members__.values()
    model = PAYLOADS.get(EventKind(kind), Payload) if known else Payload
    return model.model_validate(payload)
