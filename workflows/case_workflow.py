"""The after-sales case workflow: one durable execution per case, from intake to closing (DESIGN §2).

Determinism: no I/O here. Deadlines come from calendar snapshots that an activity loaded; the
calendar arithmetic module is pure and passed through the sandbox.

Human steps arrive as Updates (validated: wrong step → rejected before anything is written) or as
signals of the same name (from the Temporal UI / CLI; invalid ones are recorded and ignored). Both
land in one inbox that the main coroutine consumes, so the process reads top to bottom.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities import contracts as act
    from domain import calendar as cal
    from domain.approval import (
        amounts_need_approval,
        needs_approval,
        option_problem,
        refund_on_scan,
        return_shipping_payer,
    )
    from domain.calendar import CalendarSnapshot
    from domain.dispute import auto_judgment
    from domain.enums import (
        STATUS_OF_STEP,
        Action,
        CaseStatus,
        CloseReason,
        Liability,
        Resolution,
        Step,
    )
    from domain.models import (
        ACTION_PAYLOADS,
        ActionEnvelope,
        Appeal,
        Approval,
        CaseEvent,
        CaseInput,
        CaseProgress,
        CaseProjection,
        CaseRequest,
        CaseView,
        Contract,
        CustomerDecision,
        DisputeEvidence,
        DisputeRuling,
        Inspection,
        MerchantResponse,
        Proposal,
        ProposalOption,
        ReplacementShipment,
        ReturnShipment,
        Survey,
        TimelineEntry,
    )
    from domain.money import Money
    from domain.review import merge_customer_info, review_case
    from domain.sla import ClockExplanation, Rung, SlaClock, explain, start_clock
    from domain.steps import spec_of
    from workflows import search_attributes as sa

T = TypeVar("T")
WRONG_STEP = "WrongStep"
INVALID_PAYLOAD = "InvalidPayload"
CASE_CLOSED = "CaseClosed"
TIMELINE_SIZE = 50

STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
    non_retryable_error_types=["ProviderRejected", "RefundLimitExceeded"],
)
# Money calls keep trying through a provider outage (every attempt carries the same key, so nothing is
# paid twice); the step's clock tells people when it takes too long, and after the deadline the dispute
# team decides instead.
MONEY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["ProviderRejected", "RefundLimitExceeded"],
)
MONEY_CALL_DEADLINE = timedelta(days=3)
# Changes that add commands to paths running cases may be on (replay tests guard them).
APPEAL_WINDOW_PATCH = "appeal-window-after-close"
NOTIFY_MORE_PATCH = "notify-customer-on-auto-decisions"
CALLBACK_PATCH = "follow-up-callback-next-day"
DISPUTE_EVIDENCE_PATCH = "dispute-evidence-deadline"
UNDELIVERED_TO_DISPUTE_PATCH = "undelivered-remedy-to-dispute"
PLATFORM_CLOCK_PATCH = "platform-clock"
# Actions allowed at any open step, besides the ones the current step waits for.
ANYTIME = {Action.NOTES, Action.ESCALATION, Action.WITHDRAWAL}
# Steps where the merchant owes the customer a delivery after the case was decided (and maybe paid):
# one that never comes goes to the dispute team for another remedy instead of waiting forever.
DELIVERY_STEPS = {Step.SHIPPING_REPLACEMENT, Step.REPAIRING, Step.RESENDING}
# What a wait returns when the dispute team takes the case at (or past) a limit.
TO_DISPUTE = "to_dispute"
DISPUTE_STEPS = {Step.DISPUTE_EVIDENCE, Step.DISPUTE}
# The platform clock stops while the case waits on the customer or the carrier, and once resolved.
PLATFORM_IDLE_STEPS = {
    Step.SUBMITTED,
    Step.AWAITING_CUSTOMER_INFO,
    Step.AWAITING_CUSTOMER_DECISION,
    Step.AWAITING_RETURN_SHIPMENT,
    Step.RETURN_IN_TRANSIT,
    Step.FOLLOW_UP,
    Step.CLOSED,
}


class _Escalated(Exception):
    """Unwinds the process to the dispute team; `detail` is free text (kept private)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _Closing(Exception):
    """Unwinds the process to closing (withdrawal, expiry, rejection)."""

    def __init__(self, reason: CloseReason, why: str) -> None:
        super().__init__(why)
        self.reason = reason
        self.why = why


@dataclass
class _Inbound:
    seq: int
    action: Action
    payload: Contract
    actor: str
    via: str  # "update" or "signal"


@dataclass
class _Waited:
    """What a wait returned: an action, or the breach handling that ended it."""

    item: _Inbound | None = None
    breach: str | None = None


@dataclass
class _State:
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
    evidence_from: set[str] = field(default_factory=set)  # parties that gave dispute evidence


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self.inp = inp
        self.request: CaseRequest = inp.request
        self.policy = inp.policy
        self.s = _State()
        self.s.refunded = Money.zero(self._currency)
        # Refunded on the claimed order lines by earlier cases (moves only when an appeal re-claims them).
        self.already_refunded = inp.already_refunded or Money.zero(self._currency)
        self.clocks: dict[Step, SlaClock] = {}
        self.platform: SlaClock | None = None  # case-level handling time (PLATFORM_CLOCK_PATCH)
        self.snapshots: dict[str, CalendarSnapshot] = {}
        self._expecting: set[Action] = set()
        self._inbox: list[_Inbound] = []
        self._results: dict[int, str | None] = {}
        self._consumed: list[_Inbound] = []
        self._next_inbound = 0
        self._event_seq = 0
        self._pending_events: list[CaseEvent] = []
        self._timeline: list[TimelineEntry] = []
        self._version = 0
        self._store_lock = asyncio.Lock()
        self._refund_seq = 0
        self._updated_at = inp.received_at
        self._calendar_dirty = False
        self._frozen: str | None = None
        for action in Action:
            workflow.set_update_handler(
                action.value, self._update_handler(action), validator=self._update_validator(action)
            )
            workflow.set_signal_handler(action.value, self._signal_handler(action))

    # ------------------------------------------------------------------ the process

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        frozen = await self._load_calendars()
        if workflow.patched(PLATFORM_CLOCK_PATCH):
            limit = self.policy.platform_limit
            self.platform = start_clock(
                None,
                limit,
                workflow.now(),
                self.snapshots.get(limit.calendar),
                self.policy.version,
                self.policy.time_scale,
            )
            self.platform.pause(workflow.now())  # runs from the first step the platform works on
        self._event("intake", self.inp.created_by, f"{self.request.issue_type} case received")
        if frozen is not None and self._frozen is None:
            # Opened during a holiday freeze of its merchant or region: its clocks start paused.
            self._frozen = frozen
            self._event("clock_frozen", "ops", f"opened during a freeze: {frozen}")
        try:
            await self._resolve(None)
        except _Closing as closing:
            await self._close(closing.reason, closing.why)
        if workflow.patched(APPEAL_WINDOW_PATCH):
            await self._appeal_window()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    async def _resolve(self, option: ProposalOption | None) -> None:
        """Decide (or take a ruling), execute, follow up, close resolved; escalations go to dispute."""
        while True:
            try:
                if option is None:
                    option = await self._decide()
                if option.resolution == Resolution.REJECT:
                    await self._notify("customer", "rejected", option.note or "Your request was declined")
                    raise _Closing(CloseReason.REJECTED, option.note or "rejected after review")
                await self._execute(option)
                break
            except _Escalated as escalated:
                option = await self._dispute(escalated.reason, escalated.detail)
        await self._follow_up()
        await self._close(CloseReason.RESOLVED, "resolved")

    async def _decide(self) -> ProposalOption:
        out_of_scope = await self._preliminary_review()
        if out_of_scope is not None:
            # Every rejection needs a supervisor: propose it, and carry on if it is overruled.
            reject = ProposalOption(resolution=Resolution.REJECT, note=out_of_scope)
            self.s.options = [reject]
            if await self._approval():
                return reject
            self._event("rejection_overruled", "supervisor", "out-of-scope rejection overruled; case goes on")
        await self._merchant_verification()
        return await self._agree_on_resolution()

    async def _preliminary_review(self) -> str | None:
        """None when the case may go on; the reason when it is out of scope."""
        await self._enter(Step.PRELIMINARY_REVIEW)
        snapshot = self.snapshots["business"]
        while True:
            outcome = review_case(
                self.request,
                self.inp.received_at,  # the window is judged when the claim came in, not when info did
                self.policy,
                local_date=lambda t: cal.local_date(snapshot, t),
                is_working_day=lambda d: bool(cal.periods_on(snapshot, d)),
            )
            if outcome.verdict == "accept":
                self._event("review_passed", "system", "within the after-sales window, information complete")
                return None
            if outcome.verdict == "out_of_scope":
                self._event("review_out_of_scope", "system", outcome.reason)
                return outcome.reason
            missing = ", ".join(outcome.missing)
            await self._enter(Step.AWAITING_CUSTOMER_INFO, {Action.CUSTOMER_INFO})
            await self._notify("customer", "info_request", f"Please supply: {missing}")
            self._event(
                "info_requested", "system", f"asked the customer once for: {missing}", missing=outcome.missing
            )
            waited = await self._wait(Step.AWAITING_CUSTOMER_INFO)
            if waited.item is None:
                if workflow.patched(NOTIFY_MORE_PATCH):
                    await self._notify("customer", "expired", "Your request was closed: information missing")
                raise _Closing(
                    CloseReason.EXPIRED, "the customer did not supply the missing information in time"
                )
            self.request = merge_customer_info(self.request, waited.item.payload.model_dump(mode="json"))
            self._event("info_supplied", waited.item.actor, "customer supplied information")
            await self._enter(Step.PRELIMINARY_REVIEW)

    async def _merchant_verification(self) -> None:
        await self._enter(Step.MERCHANT_VERIFICATION, {Action.MERCHANT_RESPONSE})
        await self._notify("merchant", "verify_claim", "A customer claim waits for your verification")
        waited = await self._wait(Step.MERCHANT_VERIFICATION)
        if waited.item is None:
            if waited.breach == TO_DISPUTE:
                raise _Escalated("the merchant did not verify the claim in time")
            self.s.reason_codes.append("merchant_timeout_auto_accept")
            self._event(
                "auto_accepted",
                "system",
                "merchant did not answer in time: claim accepted",
                reason="merchant_timeout",
            )
            return
        response = waited.item.payload
        assert isinstance(response, MerchantResponse)
        self.s.merchant_response = response
        verdict = "accepts" if response.accepts_claim else "contests"
        self._event(
            "merchant_responded",
            waited.item.actor,
            f"merchant {verdict} the claim",
            evidence=[e.url for e in response.evidence],
        )

    async def _agree_on_resolution(self) -> ProposalOption:
        while True:
            await self._enter(Step.LIABILITY_AND_PROPOSAL, {Action.PROPOSAL})
            waited = await self._wait_for_action(Step.LIABILITY_AND_PROPOSAL)
            assert waited.item is not None
            proposal = waited.item.payload
            assert isinstance(proposal, Proposal)
            self.s.liability = proposal.liability
            self.s.options = list(proposal.options)
            self.s.chosen = None
            self._event(
                "proposed",
                waited.item.actor,
                f"liability {proposal.liability}; {len(proposal.options)} option(s)",
                liability=str(proposal.liability),
                shipping_paid_by=return_shipping_payer(proposal.liability),
            )
            if needs_approval(proposal.options, self.policy) and not await self._approval():
                continue  # the supervisor sent it back: the agent proposes again
            if proposal.options[0].resolution == Resolution.REJECT:
                self.s.chosen = 0
                return proposal.options[0]
            await self._enter(Step.AWAITING_CUSTOMER_DECISION, {Action.CUSTOMER_DECISION})
            await self._notify("customer", "proposal", "Please choose how we resolve your case")
            waited = await self._wait(Step.AWAITING_CUSTOMER_DECISION)
            if waited.item is None:
                self.s.chosen = 0
                self.s.reason_codes.append("customer_timeout_first_option")
                self._event("auto_accepted", "system", "customer did not answer: first option accepted")
                if workflow.patched(NOTIFY_MORE_PATCH):
                    await self._notify("customer", "auto_accepted", "We went ahead with the first option")
                return self.s.options[0]
            decision = waited.item.payload
            assert isinstance(decision, CustomerDecision)
            if decision.accept_option is not None:
                self.s.chosen = decision.accept_option
                self._event(
                    "option_accepted", waited.item.actor, f"customer accepted option {decision.accept_option}"
                )
                return self.s.options[decision.accept_option]
            self.s.declines += 1
            self._event(
                "declined",
                waited.item.actor,
                "customer declined the proposal",
                private={"reason": decision.reason},
            )
            if self.s.declines >= 2:
                raise _Escalated("the customer declined the revised proposal")
            self.s.revisions += 1

    async def _approval(self) -> bool:
        """A supervisor approves or sends back what the policy says needs approval."""
        await self._enter(Step.AWAITING_APPROVAL, {Action.APPROVAL})
        await self._notify("supervisor", "approval_needed", "A decision waits for your approval")
        waited = await self._wait_for_action(Step.AWAITING_APPROVAL)
        assert waited.item is not None
        approval = waited.item.payload
        assert isinstance(approval, Approval)
        approved = approval.decision == "approve"
        self._event(
            "approved" if approved else "approval_rejected",
            waited.item.actor,
            f"supervisor {'approved' if approved else 'sent back'} the decision",
            decision=approval.decision,
            private={"comment": approval.comment},
        )
        return approved

    async def _dispute(self, reason: str, detail: str = "") -> ProposalOption:
        """The dispute team rules: liability and a resolution, which then executes. A ruling whose
        amounts are above the approval thresholds needs a supervisor, like a proposal does."""
        self._event("escalated", "system", f"to the dispute team: {reason}", private={"detail": detail})
        decided: ProposalOption | None = None
        if workflow.patched(DISPUTE_EVIDENCE_PATCH):
            decided = await self._dispute_evidence(reason)
        while True:
            if decided is None:
                await self._enter(Step.DISPUTE, {Action.DISPUTE_RULING})
                await self._notify("dispute", "dispute_opened", f"A case needs a ruling: {reason}")
                waited = await self._wait_for_action(Step.DISPUTE)
                assert waited.item is not None
                ruling = waited.item.payload
                assert isinstance(ruling, DisputeRuling)
                decided = self._apply_ruling(ruling, waited.item.actor)
            if not amounts_need_approval([decided], self.policy) or await self._approval():
                return decided
            decided = None  # sent back: the team rules again

    async def _dispute_evidence(self, reason: str) -> ProposalOption | None:
        """Both parties may give evidence by a deadline; the team may rule at any time meanwhile.

        Returns the ruling (the team's, or the automatic one against the party that missed the
        deadline while the other gave evidence), or None when the team must rule after the deadline.
        """
        await self._enter(Step.DISPUTE_EVIDENCE, {Action.DISPUTE_EVIDENCE, Action.DISPUTE_RULING})
        self.s.evidence_from = set()
        due = self._local(self.clocks[Step.DISPUTE_EVIDENCE].due_at)
        await self._notify("dispute", "dispute_opened", f"A case needs a ruling: {reason}")
        for party in ("customer", "merchant"):
            await self._notify(party, "dispute_evidence", f"Give your evidence for the dispute by {due}")
        while True:
            waited = await self._wait(Step.DISPUTE_EVIDENCE)
            if waited.item is None:  # the evidence deadline passed
                return await self._judge_automatically()
            payload = waited.item.payload
            if isinstance(payload, DisputeRuling):
                return self._apply_ruling(payload, waited.item.actor)
            assert isinstance(payload, DisputeEvidence)
            self.s.evidence_from.add(payload.party)
            self._event(
                "dispute_evidence",
                waited.item.actor,
                f"{payload.party} gave evidence",
                party=payload.party,
                evidence=[e.url for e in payload.evidence],
                private={"statement": payload.statement},
            )
            if self.s.evidence_from == {"customer", "merchant"}:
                self._event("dispute_evidence_complete", "system", "both parties gave evidence")
                return None
            self._expecting = {Action.DISPUTE_EVIDENCE, Action.DISPUTE_RULING}

    async def _judge_automatically(self) -> ProposalOption | None:
        judgment = None
        if self.policy.dispute_auto_judgment:
            judgment = auto_judgment(self.s.evidence_from, self.request, self.s.options, self._refundable())
        if judgment is None:
            self._event("dispute_evidence_closed", "system", "evidence deadline passed: the team rules")
            return None
        self.s.liability = judgment.liability
        self.s.options = [judgment.option]
        self.s.chosen = 0
        self.s.reason_codes.append(judgment.reason_code)
        self._event(
            "auto_judged",
            "system",
            judgment.summary,
            reason=judgment.reason_code,
            resolution=str(judgment.option.resolution),
        )
        await self._notify("customer", "dispute_judged", judgment.summary)
        await self._notify("merchant", "dispute_judged", judgment.summary)
        return judgment.option

    def _apply_ruling(self, ruling: DisputeRuling, actor: str) -> ProposalOption:
        self.s.liability = ruling.liability
        self.s.options = [ruling.resolution]
        self.s.chosen = 0
        self._event(
            "ruled",
            actor,
            f"ruling: {ruling.resolution.resolution}, liability {ruling.liability}",
            resolution=str(ruling.resolution.resolution),
            private={"comment": ruling.comment},
        )
        return ruling.resolution

    async def _execute(self, option: ProposalOption) -> None:
        resolution = option.resolution
        on_scan = option.refund if refund_on_scan(option, self.request, self.policy) else None
        if resolution in (Resolution.RETURN_AND_REFUND, Resolution.EXCHANGE, Resolution.REPAIR):
            await self._return_goods(on_scan)
        if option.refund is not None and on_scan is None:
            await self._refund(option.refund)
        if resolution == Resolution.EXCHANGE:
            await self._merchant_ships(Step.SHIPPING_REPLACEMENT, "replacement", "ship the replacement")
        elif resolution == Resolution.REPAIR:
            await self._merchant_ships(Step.REPAIRING, "repair_return", "repair and ship the item back")
        elif resolution == Resolution.RESEND:
            await self._merchant_ships(Step.RESENDING, "resend", "send the missing part")
        if option.compensation is not None:
            await self._compensate(option.compensation)

    async def _merchant_ships(self, step: Step, kind: str, what: str) -> None:
        await self._enter(step, {Action.REPLACEMENT_SHIPMENT})
        await self._notify("merchant", f"{kind}_needed", f"Please {what} and give the tracking number")
        waited = await self._wait(step)
        if waited.item is None:  # long overdue: another remedy instead of a case that never ends
            raise _Escalated(f"the merchant did not {what} in time")
        shipment = waited.item.payload
        assert isinstance(shipment, ReplacementShipment)
        self.s.outbound_tracking_no = shipment.tracking_no
        self._event(f"{kind}_shipped", waited.item.actor, f"{kind} shipped with {shipment.carrier}")
        await self._notify("customer", f"{kind}_shipped", f"Your item is on its way ({shipment.carrier})")

    async def _compensate(self, amount: Money) -> None:
        await self._enter(Step.COMPENSATING, timed=True)
        self.s.money_moved = True
        await self._while_clock_runs(
            Step.COMPENSATING,
            self._provider(
                act.ISSUE_CREDIT,
                act.CreditRequest(
                    idempotency_key=self._key("credit"), case_id=self.case_id, kind="coupon", amount=amount
                ),
                summary=f"coupon {amount}",
                retry=MONEY_RETRY,
            ),
        )
        self.s.compensated = (self.s.compensated or Money.zero(self._currency)) + amount
        self._event("compensated", "system", f"coupon of {amount} issued")

    async def _appeal_window(self) -> None:
        """A closed case may be appealed once within the window; the dispute team reviews it."""
        if self.s.close_reason in (CloseReason.WITHDRAWN, CloseReason.DUPLICATE):
            return
        ends = workflow.now() + timedelta(days=self.policy.appeal_window_days) / self.policy.time_scale
        self._expecting = {Action.APPEAL}
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox),
                    timeout=ends - workflow.now(),
                    timeout_summary=f"appeal window ends {self._local(ends)}",
                )
            except TimeoutError:
                self._expecting = set()
                return
            item = self._inbox.pop(0)
            if item.action != Action.APPEAL:
                self._refuse(item, "the case is closed")
                continue
            # The reopened case holds its order lines again: two open cases never share one.
            claim = await self._reclaim_lines()
            if claim.held_by is not None:
                self._refuse(item, f"order line {claim.line_id} now has another open case ({claim.held_by})")
                continue
            break
        self._expecting = set()
        self.already_refunded = claim.already_refunded
        self._consumed.append(item)
        appeal = item.payload
        assert isinstance(appeal, Appeal)
        self.s.appealed = True
        self.s.close_reason = None
        self._event("appealed", item.actor, "the customer appealed", private={"reason": appeal.reason})
        try:
            await self._resolve(await self._dispute("appeal", appeal.reason))
        except _Closing as closing:
            await self._close(closing.reason, closing.why)

    async def _reclaim_lines(self) -> act.LineClaim:
        return await workflow.execute_activity(
            act.RECLAIM_LINES,
            act.LineClaimRequest(case_id=self.case_id),
            result_type=act.LineClaim,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STORE_RETRY,
            summary="re-claim the order lines",
        )

    async def _return_goods(self, refund_on_scan: Money | None = None) -> None:
        await self._enter(Step.AWAITING_RETURN_SHIPMENT, {Action.RETURN_SHIPMENT})
        payer = return_shipping_payer(self.s.liability)
        await self._provider(
            act.CREATE_RETURN_LABEL,
            act.ReturnLabelRequest(
                idempotency_key=self._key("return-label"), case_id=self.case_id, payer=payer
            ),
            summary=f"return label, shipping paid by {payer}",
        )
        await self._notify("customer", "return_instructions", f"Ship the item back; shipping paid by {payer}")
        waited = await self._wait(Step.AWAITING_RETURN_SHIPMENT)
        if waited.item is None:
            raise _Closing(CloseReason.EXPIRED, "the customer did not ship the return in time")
        shipment = waited.item.payload
        assert isinstance(shipment, ReturnShipment)
        self.s.return_tracking_no = shipment.tracking_no
        self._event("return_shipped", waited.item.actor, f"return shipped with {shipment.carrier}")
        if refund_on_scan is not None:
            # Low-value order, customer in good standing: pay when the carrier scans the return.
            self.s.reason_codes.append("refund_on_return_scan")
            await self._refund(refund_on_scan)
        await self._enter(Step.RETURN_IN_TRANSIT, {Action.RETURN_DELIVERED})
        waited = await self._wait(Step.RETURN_IN_TRANSIT)
        if waited.item is None:  # a parcel that never arrives must not stall the case
            self.s.reason_codes.append("return_parcel_overdue")
            raise _Escalated("the return parcel did not arrive in time")
        self._event("return_delivered", waited.item.actor, "return delivered to the merchant")
        await self._enter(Step.AWAITING_INSPECTION, {Action.INSPECTION})
        await self._notify("merchant", "inspect_return", "A returned item waits for inspection")
        waited = await self._wait(Step.AWAITING_INSPECTION)
        if waited.item is None:
            if waited.breach == TO_DISPUTE:
                raise _Escalated("the merchant did not inspect the return in time")
            self.s.reason_codes.append("inspection_timeout_auto_pass")
            self._event("auto_passed", "system", "merchant did not inspect in time: inspection passed")
            return
        inspection = waited.item.payload
        assert isinstance(inspection, Inspection)
        self._event(
            "inspected",
            waited.item.actor,
            "inspection passed" if inspection.passed else "inspection failed",
            passed=inspection.passed,
            private={"note": inspection.note},
        )
        if not inspection.passed:
            # The merchant disputes the returned item: the dispute team decides what is owed.
            raise _Escalated("inspection failed", inspection.note)

    async def _refund(self, amount: Money) -> None:
        await self._enter(Step.REFUNDING, timed=True)
        self._refund_seq += 1
        self.s.money_moved = True
        try:
            outcome = await self._while_clock_runs(Step.REFUNDING, self._refund_call(amount))
        except ActivityError as err:
            # Retries are exhausted or the provider refused: people decide, the case does not fail.
            self._event("refund_failed", "system", f"refund of {amount} failed: {err.cause or err}")
            await self._notify(
                "supervisor", "refund_failed", f"Refund of {amount} failed; the dispute team decides"
            )
            raise _Escalated(f"refund of {amount} failed") from err
        self.s.refunded = (self.s.refunded or Money.zero(self._currency)) + outcome.amount
        self._event(
            "refunded",
            "system",
            f"refunded {outcome.amount}",
            provider_refund_id=outcome.provider_refund_id,
            amount=str(outcome.amount.amount),
            currency=outcome.amount.currency,
        )
        await self._notify(
            "customer", "refunded", f"We refunded {outcome.amount} to your original payment method"
        )

    async def _refund_call(self, amount: Money) -> act.RefundOutcome:
        return await workflow.execute_activity(
            act.EXECUTE_REFUND,
            act.RefundRequest(
                case_id=self.case_id,
                seq=self._refund_seq,
                order_id=self.request.order.order_id,
                payment_method=self.request.order.payment_method,
                amount=amount,
            ),
            result_type=act.RefundOutcome,
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=MONEY_CALL_DEADLINE,
            retry_policy=MONEY_RETRY,
            summary=f"refund {amount}",
        )

    async def _follow_up(self) -> None:
        await self._enter(Step.FOLLOW_UP, {Action.SURVEY})
        await self._notify("customer", "survey", "Is your issue resolved? Please rate our service")
        if workflow.patched(CALLBACK_PATCH):
            await self._schedule_callback()
        waited = await self._wait(Step.FOLLOW_UP)
        if waited.item is None:
            self._event("survey_closed", "system", "survey window ended without a score")
            return
        survey = waited.item.payload
        assert isinstance(survey, Survey)
        self.s.survey = survey
        self._event(
            "survey_answered",
            waited.item.actor,
            f"CSAT {survey.csat}, NPS {survey.nps}",
            csat=survey.csat,
            nps=survey.nps,
            private={"comment": survey.comment},
        )

    async def _schedule_callback(self) -> None:
        """Seed 003: the agent calls the customer back on the next day the service desk works."""
        desk = self.snapshots.get("service_desk") or self.snapshots["business"]
        tomorrow = cal.local_date(desk, workflow.now()) + timedelta(days=1)
        at = cal.next_working_moment(desk, datetime.combine(tomorrow, time(0), tzinfo=desk.tz))
        self.s.callback_at = at
        self._event(
            "callback_scheduled", "system", f"callback due {self._local(at)}", callback_at=at.isoformat()
        )
        await self._notify("agent", "callback", f"Call the customer back on {self._local(at)} to confirm")

    async def _close(self, reason: CloseReason, why: str) -> None:
        if self.s.step == Step.CLOSED:
            return
        self.s.close_reason = reason
        self._event("closed", "system", f"closed {reason}: {why}", reason=str(reason))
        await self._enter(Step.CLOSED)

    # ------------------------------------------------------------------ waiting and clocks

    async def _wait(self, step: Step) -> _Waited:
        """Wait for an expected action; run the step's SLA ladder meanwhile.

        The wait also wakes when the calendar changes (deadlines move) or ops freeze/thaw clocks.
        """
        clock = self.clocks[step]
        await self._flush()
        while True:
            if self._clock_stale(clock):
                await self._apply_clock_changes(clock)
            due = self._next_rung(clock)
            timeout = max(due[2] - workflow.now(), timedelta(0)) if due else None
            summary = f"SLA {due[0].name} {due[1]} at {self._local(due[2])}" if due else None
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox) or self._clock_stale(clock),
                    timeout=timeout,
                    timeout_summary=summary,
                )
            except TimeoutError:
                assert due is not None
                breach = await self._fire_rung(due[0], due[1])
                if breach is not None:
                    self._expecting = set()
                    return _Waited(breach=breach)
                continue
            if not self._inbox:
                continue
            item = self._inbox.pop(0)
            if item.action == Action.NOTES:
                self._consumed.append(item)
                self._event(
                    "note",
                    item.actor,
                    "note added",
                    visibility=getattr(item.payload, "visibility", "internal"),
                    private={"text": getattr(item.payload, "text", "")},
                )
                await self._flush()
                continue
            if item.action == Action.WITHDRAWAL and self.s.money_moved:
                self._refuse(item, "money has already moved; the case can no longer be withdrawn")
                continue
            if item.action == Action.WITHDRAWAL:
                self._consumed.append(item)
                self._event("withdrawn", item.actor, "customer withdrew the case")
                raise _Closing(CloseReason.WITHDRAWN, "withdrawn by the customer")
            if item.action == Action.ESCALATION:
                self._consumed.append(item)
                self._expecting = set()
                raise _Escalated(f"escalated by {item.actor}", getattr(item.payload, "reason", ""))
            if item.action not in self._expecting:
                # Valid when sent, overtaken since (e.g. a timer fired first).
                self._refuse(item, f"case is at step {self.s.step}, which does not take {item.action}")
                continue
            self._consumed.append(item)
            self._expecting = set()
            return _Waited(item=item)

    async def _wait_for_action(self, step: Step) -> _Waited:
        """Wait at a step whose limit only escalates: it ends when someone acts (or the case unwinds)."""
        while True:
            waited = await self._wait(step)
            if waited.item is not None:
                return waited
            await self._enter(step, set(spec_of(step).waits_for))  # not reached with a valid policy

    def _next_rung(self, clock: SlaClock) -> tuple[SlaClock, Rung, datetime] | None:
        """The next rung due: the step clock's or the platform clock's, whichever comes first."""
        due: tuple[SlaClock, Rung, datetime] | None = None
        for candidate in (clock, self.platform):
            if candidate is None:
                continue
            rung = candidate.next_rung(self.snapshots.get(candidate.limit.calendar))
            if rung is not None and (due is None or rung[1] < due[2]):
                due = (candidate, rung[0], rung[1])
        return due

    def _follow_platform_clock(self) -> None:
        """The platform clock runs while the platform or merchant works on the case and nothing is frozen."""
        if self.platform is None:
            return
        now = workflow.now()
        if self._frozen is not None or self.s.step in PLATFORM_IDLE_STEPS:
            self.platform.pause(now)
        elif self.platform.running_since is None:
            self.platform.resume(now, self.snapshots.get(self.platform.limit.calendar))

    async def _start_clock(self, step: Step) -> None:
        limit = self.policy.limit(step)
        assert limit is not None, f"{step} takes no clock"  # the step table gives every waiting step one
        if self._calendar_dirty:  # changed while no clock was running
            self._calendar_dirty = False
            await self._load_calendars()
        clock = start_clock(
            step,
            limit,
            workflow.now(),
            self.snapshots.get(limit.calendar),
            self.policy.version,
            self.policy.time_scale,
        )
        if self._frozen is not None:
            clock.pause(workflow.now())
        self.clocks[step] = clock

    def _clock_stale(self, clock: SlaClock) -> bool:
        """The calendar changed, or the freeze state and the clock disagree."""
        return self._calendar_dirty or (self._frozen is not None) == (clock.running_since is not None)

    async def _apply_clock_changes(self, clock: SlaClock) -> None:
        """A calendar change moves the deadline; a freeze pauses the clock, a thaw resumes it."""
        if self._calendar_dirty:
            self._calendar_dirty = False
            before = clock.due_at
            await self._load_calendars()
            clock.refresh_due(self.snapshots.get(clock.limit.calendar))
            if self.platform is not None and self.platform.running_since is not None:
                self.platform.refresh_due(self.snapshots.get(self.platform.limit.calendar))
            if clock.due_at != before:
                self._event(
                    "deadline_moved",
                    "system",
                    f"calendar changed: {clock.step} now due {self._local(clock.due_at)}",
                )
        now = workflow.now()
        if self._frozen is not None and clock.running_since is not None:
            clock.pause(now)
            self._event("clock_frozen", "ops", f"{clock.step} clock frozen: {self._frozen}")
        elif self._frozen is None and clock.running_since is None:
            clock.resume(now, self.snapshots.get(clock.limit.calendar))
            self._event("clock_thawed", "ops", f"{clock.step} clock resumed, due {self._local(clock.due_at)}")
        self._follow_platform_clock()
        workflow.set_current_details(self._details())
        await self._flush()

    @workflow.signal(name="calendar_changed")
    def calendar_changed(self) -> None:
        """Sent by the calendar admin endpoint: reload the calendar and move deadlines."""
        self._calendar_dirty = True

    @workflow.signal(name="freeze")
    def freeze(self, reason: str) -> None:
        """Holiday freeze: pause every running clock of this case, keeping the time used."""
        self._frozen = reason or "freeze"

    @workflow.signal(name="thaw")
    def thaw(self) -> None:
        self._frozen = None

    def _local(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        snapshot = self.snapshots.get("business")
        local = cal.to_local(snapshot, moment) if snapshot else moment
        return f"{local:%Y-%m-%d %H:%M}"

    async def _fire_rung(self, clock: SlaClock, rung: Rung) -> str | None:
        """Apply one rung of the ladder; returns the breach action when it ends the wait.

        Only the platform's and the merchant's limits breach (DESIGN §8); a customer's, the carrier's
        or the dispute parties' limit ends in an expiry or an automatic decision with a reason code.
        """
        now = workflow.now()
        clock.fire(rung, now)
        step = clock.step
        spec = spec_of(step) if step is not None else None
        breaches = spec is None or spec.breaches
        action = self.policy.breach_action(step) if step is not None else "escalate"
        if rung == "warn":
            kind = "sla_warning" if breaches else "reminder"
            self._event(kind, "system", f"75% of the {clock.limit.describe()} limit of {clock.name} used")
            for role in (
                ("customer", "merchant") if clock.limit.who_acts == "parties" else (clock.limit.who_acts,)
            ):
                await self._notify(role, kind, f"{clock.name} is due at {self._local(clock.due_at)}")
            await self._flush()
            return None
        if rung == "escalate":
            if not breaches or action != "escalate":
                return None  # the wait already ended at the limit
            self._event("sla_escalated", "system", f"{clock.name} 25% past its limit: escalated one level up")
            await self._notify("supervisor_manager", "sla_escalated", f"Step {clock.name} is overdue")
            if (
                spec is not None
                and spec.party == "merchant"
                and workflow.patched(UNDELIVERED_TO_DISPUTE_PATCH)
            ):
                # The merchant stays silent past escalation: the dispute team decides instead.
                kind = "undelivered" if step in DELIVERY_STEPS else "merchant_overdue"
                self._event(kind, "system", f"{step} long overdue: the dispute team decides")
                await self._flush()
                return TO_DISPUTE
            await self._flush()
            return None
        if not breaches:
            self._event(
                "limit_reached",
                "system",
                f"{clock.name} limit of {clock.limit.describe()} reached: {action}",
                action=action,
                clock=clock.name,
            )
            await self._flush()
            return action
        self._event(
            "sla_breached",
            "system",
            f"{clock.name} missed its {clock.limit.describe()} limit; {action}",
            action=action,
            clock=clock.name,
            party=spec.party if spec is not None else "platform",
            step_limit=clock.limit.describe(),
            due_at=clock.due_at.isoformat() if clock.due_at else None,
        )
        if not self.s.breached:
            self.s.breached = True
            workflow.upsert_search_attributes([sa.SLA_BREACHED.value_set(True)])
        if action == "escalate":
            await self._notify("supervisor", "sla_breached", f"{clock.name} missed its limit")
            await self._flush()
            return None
        await self._flush()
        return action

    # ------------------------------------------------------------------ messages

    def _update_validator(self, action: Action) -> Any:
        def validate(envelope: ActionEnvelope) -> None:
            self._check(action, envelope.payload)

        return validate

    def _update_handler(self, action: Action) -> Any:
        async def handle(envelope: ActionEnvelope) -> CaseView:
            payload = self._check(action, envelope.payload)
            item = self._accept(action, payload, envelope.actor, "update")
            await workflow.wait_condition(lambda: item.seq in self._results)
            error = self._results.pop(item.seq)
            if error is not None:
                raise ApplicationError(error, type=WRONG_STEP, non_retryable=True)
            return self._view()

        return handle

    def _signal_handler(self, action: Action) -> Any:
        def handle(payload: dict[str, Any]) -> None:
            body = dict(payload or {})
            actor = str(body.pop("actor", "temporal-ui"))
            try:
                checked = self._check(action, body)
            except ApplicationError as err:
                # A signal cannot be refused: record it and leave the case as it is.
                self._event("signal_ignored", actor, f"{action} ignored: {err.message}")
                return
            self._accept(action, checked, actor, "signal")

        return handle

    def _check(self, action: Action, payload: dict[str, Any]) -> Contract:
        """Validate an action against the current step; raise ApplicationError to refuse it."""
        try:
            parsed = ACTION_PAYLOADS[action].model_validate(payload)
        except ValidationError as err:
            raise ApplicationError(
                f"invalid {action} payload: {err.errors()[0]['msg']}", type=INVALID_PAYLOAD
            ) from err
        if self.s.step == Step.CLOSED and action not in self._expecting:
            raise ApplicationError(f"case is closed ({self.s.close_reason})", type=CASE_CLOSED)
        if action == Action.ESCALATION and (
            self.s.step in DISPUTE_STEPS or (self.s.money_moved and self.s.step not in DELIVERY_STEPS)
        ):
            # After money moved only an undelivered remedy (replacement, repair, part) can go back.
            raise ApplicationError(
                "the case is already with the dispute team or money has moved; it cannot be escalated",
                type=WRONG_STEP,
            )
        if action == Action.WITHDRAWAL and self.s.money_moved:
            raise ApplicationError(
                "money has already moved; the case can no longer be withdrawn", type=WRONG_STEP
            )
        if action not in self._expecting and action not in ANYTIME:
            raise ApplicationError(
                f"case is at step {self.s.step}, which does not take {action}", type=WRONG_STEP
            )
        if action == Action.CUSTOMER_DECISION:
            assert isinstance(parsed, CustomerDecision)
            if parsed.accept_option is not None and parsed.accept_option >= len(self.s.options):
                raise ApplicationError(
                    f"option {parsed.accept_option} does not exist; {len(self.s.options)} offered",
                    type=INVALID_PAYLOAD,
                )
        if isinstance(parsed, Proposal):
            if any(o.resolution == Resolution.REJECT for o in parsed.options) and len(parsed.options) > 1:
                raise ApplicationError("a rejection must be the only option", type=INVALID_PAYLOAD)
            for index, option in enumerate(parsed.options):
                self._check_amounts(option, f"option {index}")
        if isinstance(parsed, DisputeRuling):
            self._check_amounts(parsed.resolution, "ruling")
        return parsed

    def _check_amounts(self, option: ProposalOption, where: str) -> None:
        """Every amount an action carries is bounded before anything happens (422 in the API)."""
        problem = option_problem(option, self._currency, self._refundable(), self.policy)
        if problem is not None:
            raise ApplicationError(f"{where}: {problem}", type=INVALID_PAYLOAD)

    def _refundable(self) -> Money:
        """What is left to refund on the claimed order lines, across every case of those lines."""
        refunded = self.already_refunded.amount + (self.s.refunded or Money.zero(self._currency)).amount
        rest = self.request.paid_total.amount - refunded
        return Money(amount=max(rest, Decimal(0)), currency=self._currency)

    def _refuse(self, item: _Inbound, why: str) -> None:
        if item.via == "update":
            self._results[item.seq] = why
        else:
            self._event("signal_ignored", item.actor, f"{item.action} ignored: {why}")

    def _accept(self, action: Action, payload: Contract, actor: str, via: str) -> _Inbound:
        self._next_inbound += 1
        item = _Inbound(self._next_inbound, action, payload, actor, via)
        self._inbox.append(item)
        return item

    @workflow.query(name="case")
    def query_case(self) -> CaseView:
        return self._view()

    @workflow.query(name="clocks")
    def query_clocks(self) -> dict[str, SlaClock]:
        return {str(step): clock for step, clock in self.clocks.items()}

    # ------------------------------------------------------------------ state, store, providers

    @property
    def case_id(self) -> str:
        return self.inp.case_id

    @property
    def _currency(self) -> str:
        return self.request.order.lines[0].unit_price.currency

    def _key(self, purpose: str) -> str:
        """Idempotency keys come from the case id and a deterministic sequence, never the run id."""
        return f"{self.case_id}-{purpose}-{self._event_seq + 1}"

    async def _enter(self, step: Step, expecting: set[Action] | None = None, timed: bool = False) -> None:
        """Move to a step; a step that waits (on people, or on a provider call: `timed`) starts its clock."""
        previous = self.s.step
        if expecting or timed:
            await self._start_clock(step)
        self.s.step = step
        self._follow_platform_clock()
        self._expecting = set(expecting or ())
        if previous != step:
            self._event("step", "system", f"{previous} → {step}", to=str(step))
        workflow.upsert_search_attributes(
            [
                sa.CASE_STATUS.value_set(str(STATUS_OF_STEP[step])),
                sa.CASE_STEP.value_set(str(step)),
                sa.SLA_BREACHED.value_set(self.s.breached),
            ]
        )
        workflow.set_current_details(self._details())
        if not expecting:
            await self._flush()

    async def _while_clock_runs(self, step: Step, work: Awaitable[T]) -> T:
        """Await a provider call while the step's clock runs its ladder, so a refund or credit that
        keeps failing past the step's limit is a breach that people hear about (it keeps retrying)."""
        task = asyncio.ensure_future(work)
        clock = self.clocks[step]
        while not task.done():
            if self._clock_stale(clock):
                await self._apply_clock_changes(clock)
            due = self._next_rung(clock)
            try:
                await workflow.wait_condition(
                    lambda: task.done() or self._clock_stale(clock),
                    timeout=max(due[2] - workflow.now(), timedelta(0)) if due else None,
                    timeout_summary=f"SLA {due[0].name} {due[1]} at {self._local(due[2])}" if due else None,
                )
            except TimeoutError:
                assert due is not None
                await self._fire_rung(due[0], due[1])
        return task.result()

    def _details(self) -> str:
        lines = [f"**Step** {self.s.step}", f"**Status** {STATUS_OF_STEP[self.s.step]}"]
        clock = self.clocks.get(self.s.step)
        if clock is not None and clock.due_at is not None:
            lines.append(f"**Due** {clock.due_at.isoformat()} ({clock.limit.describe()})")
        if self.s.close_reason:
            lines.append(f"**Closed** {self.s.close_reason}")
        return "\n\n".join(lines)

    def _event(self, kind: str, actor: str, summary: str, **payload: Any) -> None:
        self._event_seq += 1
        now = workflow.now()
        self._updated_at = now
        event = CaseEvent(
            case_id=self.case_id,
            seq=self._event_seq,
            at=now,
            kind=kind,
            step=self.s.step,
            actor=actor,
            summary=summary,
            payload=payload,
        )
        self._pending_events.append(event)
        self._timeline.append(
            TimelineEntry(at=now, step=self.s.step, kind=kind, actor=actor, summary=summary)
        )
        del self._timeline[:-TIMELINE_SIZE]

    async def _flush(self) -> None:
        """Write the projection and new audit events in one idempotent store activity."""
        async with self._store_lock:
            events, self._pending_events = self._pending_events, []
            self._version += 1
            progress = CaseProgress(
                projection=CaseProjection(
                    version=self._version,
                    customer_id=self.request.order.customer_id,
                    priority=self.request.priority,
                    view=self._view(),
                ),
                events=events,
            )
            try:
                await workflow.execute_activity(
                    act.RECORD_PROGRESS,
                    progress,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=STORE_RETRY,
                    summary=f"store {self.s.step} v{self._version}",
                )
            except BaseException:
                self._pending_events = events + self._pending_events
                raise
            # Accepted updates return once their effect is stored, so a read after them sees it.
            for item in self._consumed:
                if item.via == "update":
                    self._results.setdefault(item.seq, None)
            self._consumed.clear()

    async def _notify(self, role: str, template: str, message: str) -> None:
        """Tell whoever must act; a messaging outage is recorded, it does not stop the case."""
        try:
            await self._provider(
                act.SEND_NOTIFICATION,
                act.NotificationRequest(
                    idempotency_key=self._key(f"notify-{role}-{template}"),
                    case_id=self.case_id,
                    recipient_role=role,
                    template=template,
                    message=message,
                ),
                summary=f"notify {role}: {template}",
            )
        except ActivityError as err:
            self._event(
                "notification_failed", "system", f"could not notify {role} ({template}): {err.cause or err}"
            )

    async def _provider(
        self, activity: str, arg: Any, summary: str, retry: RetryPolicy = PROVIDER_RETRY
    ) -> act.ProviderReceipt:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=act.ProviderReceipt,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=MONEY_CALL_DEADLINE if retry is MONEY_RETRY else None,
            retry_policy=retry,
            summary=summary,
        )

    async def _load_calendars(self) -> str | None:
        """Load the calendar snapshots; returns the reason of a freeze in force over this case."""
        names = sorted({limit.calendar for limit in self.policy.limits.values()} | {"business"})
        start: date = (self.inp.received_at - timedelta(days=60)).date()
        order = self.request.order
        bundle = await workflow.execute_activity(
            act.LOAD_CALENDARS,
            act.CalendarRequest(names=names, merchant_id=order.merchant_id, region=order.region, start=start),
            result_type=act.CalendarBundle,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STORE_RETRY,
            summary=f"calendar snapshot {', '.join(names)}",
        )
        self.snapshots = bundle.snapshots
        return bundle.frozen

    def _explain(self) -> list[ClockExplanation]:
        now = workflow.now()
        shown = [
            clock
            for step, clock in self.clocks.items()
            if step == self.s.step or clock.breached_at is not None
        ]
        if self.platform is not None:
            shown.append(self.platform)
        return [explain(clock, self.snapshots.get(clock.limit.calendar), now) for clock in shown]

    def _view(self) -> CaseView:
        deadlines: dict[str, datetime] = {}
        for step, clock in self.clocks.items():
            if clock.due_at is not None and step == self.s.step:
                deadlines[str(step)] = clock.due_at
        if self.platform is not None and self.platform.due_at is not None:
            deadlines[self.platform.name] = self.platform.due_at
        return CaseView(
            case_id=self.case_id,
            workflow_id=workflow.info().workflow_id,
            status=STATUS_OF_STEP[self.s.step] if self.s.step != Step.CLOSED else CaseStatus.CLOSED,
            step=self.s.step,
            close_reason=self.s.close_reason,
            issue_type=self.request.issue_type,
            reason=self.request.reason,
            order_id=self.request.order.order_id,
            merchant_id=self.request.order.merchant_id,
            liability=self.s.liability,
            options=self.s.options,
            chosen_option=self.s.chosen,
            paid=self.request.paid_total,
            refunded=self.s.refunded or Money.zero(self._currency),
            refundable=self._refundable(),
            deadlines=deadlines,
            sla_breached=self.s.breached,
            sla=self._explain(),
            reason_codes=list(self.s.reason_codes),
            return_tracking_no=self.s.return_tracking_no,
            outbound_tracking_no=self.s.outbound_tracking_no,
            compensated=self.s.compensated or Money.zero(self._currency),
            appealed=self.s.appealed,
            callback_at=self.s.callback_at,
            timeline=list(self._timeline),
            created_at=self.inp.received_at,
            updated_at=self._updated_at,
        )
