"""Names and input/output models of every activity.

Workflows import only this module (no database, HTTP or crypto imports), so the sandbox stays
light and the activity implementations can change without touching workflow code.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from domain.calendar import CalendarSnapshot
from domain.money import Money

RECORD_PROGRESS = "record_case_progress"
RECORD_DELTA = "record_case_delta"
LOAD_CALENDARS = "load_calendars"
SEND_NOTIFICATION = "send_notification"
EXECUTE_REFUND = "execute_refund"
CREATE_RETURN_LABEL = "create_return_label"
OPEN_CARRIER_CLAIM = "open_carrier_claim"
CREATE_SHIPMENT = "create_shipment"
ISSUE_CREDIT = "issue_credit"
RECLAIM_LINES = "reclaim_case_lines"
REPLY_CLOCK_STARTED = "reply_clock_started"
REPLY_CLOCK_DUE = "reply_clock_due"
REPLY_CLOCK_ANSWERED = "reply_clock_answered"
PICK_ASSIGNEE = "pick_assignee"
REPORTS_DUE = "reports_due"
BUILD_REPORT = "build_report"
CASES_TO_HAND_BACK = "cases_to_hand_back"


class CalendarRequest(BaseModel):
    names: list[str]
    merchant_id: str | None = None
    region: str | None = None
    start: date
    days: int = Field(default=730, ge=1, le=3650)


class CalendarBundle(BaseModel):
    snapshots: dict[str, CalendarSnapshot]
    # The reason of a holiday freeze in force over the case's merchant or region (a case opened
    # during a freeze starts frozen); None when there is none.
    frozen: str | None = None


class NotificationRequest(BaseModel):
    idempotency_key: str
    case_id: str
    recipient_role: str
    template: str
    message: str


class RefundRequest(BaseModel):
    case_id: str
    seq: int = Field(ge=1)
    order_id: str
    payment_method: str
    amount: Money


class RefundOutcome(BaseModel):
    status: Literal["succeeded", "failed"]
    provider_refund_id: str | None = None
    amount: Money
    detail: str = ""


class ReturnLabelRequest(BaseModel):
    idempotency_key: str
    case_id: str
    payer: Literal["merchant", "customer", "platform"]


class ShipmentRequest(BaseModel):
    idempotency_key: str
    case_id: str
    kind: Literal["replacement", "resend", "repair_return"]
    sku: str | None = None


class CreditRequest(BaseModel):
    idempotency_key: str
    case_id: str
    kind: Literal["coupon", "balance"]
    amount: Money


class CarrierClaimRequest(BaseModel):
    """A claim against the carrier for a lost return parcel (DESIGN §13)."""

    idempotency_key: str
    case_id: str
    tracking_no: str


class ProviderReceipt(BaseModel):
    reference: str
    tracking_no: str | None = None


class LineClaimRequest(BaseModel):
    case_id: str


class LineClaim(BaseModel):
    """An appealed case takes its order lines back, unless another open case holds one of them."""

    held_by: str | None = None  # the open case holding a line; None when the lines are this case's again
    line_id: str | None = None
    # What other cases have refunded on these lines (the case's own refunds not included).
    already_refunded: Money


# --- the first-response clock of a customer message (workflows/reply_clock.py) ----------------------


class ReplyClockInput(BaseModel):
    """No text: the message's words stay in the case store, sealed; the clock needs only times."""

    case_id: str
    message_id: str
    received_at: datetime
    limit_seconds: float = Field(gt=0)
    # The clock gives up waiting for a reply after this long (the case may have closed meanwhile).
    give_up_after_days: int = Field(default=14, ge=1)


class ReplyClockFacts(BaseModel):
    message_id: str
    reply_due_at: datetime
    counts_on: date
    night: bool
    night_due_at: datetime | None = None


class ReplyClockDue(BaseModel):
    """A limit of the clock passed: `breach` (the reply limit) or `night` (12:00 of the day it counts to)."""

    case_id: str
    message_id: str
    kind: Literal["breach", "night"]
    due_at: datetime


class ReplyClockStored(BaseModel):
    """What the store knew when a limit passed: the reply's time when it already had one."""

    replied_at: datetime | None = None


class ReplyClockAnswered(BaseModel):
    message_id: str
    replied_at: datetime
    first_response_seconds: int
    breached: bool
    night_violated: bool


class AssigneeRequest(BaseModel):
    case_id: str
    queue: str | None = None  # None in inputs recorded before routing: the case row's queue


class AssigneePick(BaseModel):
    """Auto-assignment's choice: the least-loaded online agent with the queue's skill, or nobody."""

    person_id: str | None = None
    queue: str
    open_cases: int = 0  # what the person held before this case


class HandbackRequest(BaseModel):
    person_id: str


class HandbackCases(BaseModel):
    """The open cases an offline (or deactivated) person holds; none when they are back."""

    case_ids: list[str] = Field(default_factory=list)
    kept_because: str | None = None


# --- the daily and weekly reports (workflows/reports.py) --------------------------------------------


class ReportsDueRequest(BaseModel):
    kind: Literal["daily", "weekly"]
    at: datetime  # the run's time: its local date on the business calendar decides


class ReportsDue(BaseModel):
    keys: list[str] = Field(default_factory=list)  # days (YYYY-MM-DD) or ISO weeks (YYYY-Www), oldest first


class BuildReport(BaseModel):
    kind: Literal["daily", "weekly"]
    key: str
