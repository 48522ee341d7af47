"""What the case workflow knows about its case, and how it shows it: the view, the UI details and
the search attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from domain.enums import STATUS_OF_STEP, CaseStatus, CloseReason, Liability, Step
    from domain.models import CaseInput, CaseRequest, CaseView, MerchantResponse, ProposalOption, Survey
    from domain.money import Money
    from workflows import search_attributes as sa

if TYPE_CHECKING:
    from workflows.ladder import Ladder
    from workflows.recorder import Recorder


@dataclass
class CaseState:
    step: Step = Step.SUBMITTED
    close_reason: CloseReason | None = None
    liability: Liability | None = None
    options: list[ProposalOption] = field(default_factory=list)
    chosen: int | None = None
    refunded: Money | None = None
    money_moved: bool = False
    breached: bool = False
    return_tracking_no: str | None = None
    merchant_response: MerchantResponse | None = None
    survey: Survey | None = None
    declines: int = 0
    revisions: int = 0
    reason_codes: list[str] = field(default_factory=list)
    outbound_tracking_no: str | None = None
    compensated: Money | None = None
    appealed: bool = False
    callback_at: datetime | None = None
    # Sets that most cases never fill are frozen and empty (one shared object) until they do.
    evidence_from: frozenset[str] = frozenset()  # parties that gave dispute evidence
    assigned_to: str | None = None  # the person working the case
    approval_tier: str | None = None  # who approves what waits for approval (policy tiers)
    return_label_tracking_no: str | None = None  # the carrier's number on the prepaid return label
    return_delivered: bool = False  # the carrier scanned the return delivered (maybe before pickup)
    outbound_delivered: bool = False  # the carrier delivered the replacement, repair or part
    scan_ids: frozenset[str] = frozenset()  # carrier event ids heard (a resent one is ignored)
    unsaved_scan: bool = False  # a carrier scan was recorded that moved nothing: a wait writes it


def details(s: CaseState, ladder: Ladder) -> str:
    """The workflow's current details in the Temporal UI (markdown)."""
    lines = [f"**Step** {s.step}", f"**Status** {STATUS_OF_STEP[s.step]}"]
    clock = ladder.clocks.get(s.step)
    if clock is not None and clock.due_at is not None:
        lines.append(f"**Due** {clock.due_at.isoformat()} ({clock.limit.describe()})")
    if s.close_reason:
        lines.append(f"**Closed** {s.close_reason}")
    return "\n\n".join(lines)


def attributes(s: CaseState) -> dict[SearchAttributeKey[Any], Any]:
    """The search attributes that follow the case (the others are set once, at start)."""
    return {
        sa.CASE_STATUS: str(STATUS_OF_STEP[s.step]),
        sa.CASE_STEP: str(s.step),
        sa.SLA_BREACHED: s.breached,
        # None until assigned, as at start: no upsert (nor a new command in older histories) till then.
        sa.ASSIGNED_TO: s.assigned_to,
    }


def build_view(
    inp: CaseInput,
    request: CaseRequest,
    s: CaseState,
    ladder: Ladder,
    rec: Recorder,
    refundable: Money,
    updated_at: datetime,
) -> CaseView:
    zero = Money.zero(refundable.currency)
    return CaseView(
        case_id=inp.case_id,
        workflow_id=workflow.info().workflow_id,
        status=STATUS_OF_STEP[s.step] if s.step != Step.CLOSED else CaseStatus.CLOSED,
        step=s.step,
        close_reason=s.close_reason,
        issue_type=request.issue_type,
        reason=request.reason,
        order_id=request.order.order_id,
        merchant_id=request.order.merchant_id,
        liability=s.liability,
        options=s.options,
        chosen_option=s.chosen,
        paid=request.paid_total,
        refunded=s.refunded or zero,
        refundable=refundable,
        deadlines=ladder.deadlines(),
        sla_breached=s.breached,
        sla=ladder.explain(),
        reason_codes=list(s.reason_codes),
        return_tracking_no=s.return_tracking_no,
        outbound_tracking_no=s.outbound_tracking_no,
        compensated=s.compensated or zero,
        appealed=s.appealed,
        callback_at=s.callback_at,
        assigned_to=s.assigned_to,
        approval_tier=s.approval_tier,
        policy_version=inp.policy.version,
        queue=inp.queue,
        priority=inp.priority or request.priority,
        priority_reason=inp.priority_reason,
        timeline=[recent.entry() for recent in rec.timeline],
        created_at=inp.received_at,
        updated_at=updated_at,
    )
