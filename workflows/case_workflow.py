"""The after-sales case workflow: one durable execution per case, from intake to closing (DESIGN §2).

This module is the process, in the order of DESIGN §2. The machinery sits beside it (`parts` puts it
together): the inbox of human actions (Updates and signals), waits, the SLA ladder, the recorder of
events and store writes, the activity calls and the validators. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from domain import names
    from domain.approval import (
        amounts_need_approval,
        needs_approval,
        refund_on_scan,
        return_shipping_payer,
    )
    from domain.carriers import CarrierScan, is_carrier
    from domain.enums import Action, CloseReason, Resolution, Step
    from domain.models import (
        Approval,
        CaseInput,
        CaseView,
        CustomerDecision,
        DisputeEvidence,
        DisputeRuling,
        Inspection,
        MerchantResponse,
        Proposal,
        ProposalOption,
        ReplacementShipment,
        ReturnShipment,
        SecondRemedy,
        Survey,
    )
    from domain.money import Money
    from domain.review import merge_customer_info
    from domain.sla import SlaClock
    from domain.tiers import tier_audit
    from workflows import calls, rulings
    from workflows.inbox import Handlers
    from workflows.outcomes import Closing, Escalated, TimedOut
    from workflows.parts import CaseParts
    from workflows.review import review
    from workflows.transit import Returned, Transit


@workflow.defn(name=names.WORKFLOW_TYPE)
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self.p = p = CaseParts(inp)
        self.inp, self.policy = inp, p.policy
        self.s, self.rec, self.inbox, self.ladder, self.waits = p.s, p.rec, p.inbox, p.ladder, p.waits
        self.handlers = Handlers(self.inbox, self.p.check, self.p.view, self.p.signal_ignored)
        self.transit = Transit(p, self._refund)

    # ------------------------------------------------------------------ the process

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseView:
        frozen = await self.ladder.load_calendars()
        self.ladder.start_platform_clock()
        self.p.event("intake", f"{self.p.request.issue_type} case received", actor=self.inp.created_by)
        if frozen is not None:
            # Opened during a holiday freeze of its merchant or region: its clocks start paused.
            self.ladder.frozen = frozen
            self.p.event("clock_frozen", f"opened during a freeze: {frozen}", actor="ops")
        try:
            await self._resolve(None)
        except Closing as closing:
            self._close(closing.reason, closing.why)
        await self._appeal_window()
        await self.p.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.p.view()

    async def _resolve(self, option: ProposalOption | None) -> None:
        """Decide (or take a ruling), execute, follow up, close resolved; escalations go to dispute.
        When the follow-up's callback finds the problem not solved, the agent proposes a second remedy
        (under the usual approvals) and it is executed and followed up in turn."""
        second = False
        while True:
            while True:
                try:
                    if option is None:
                        option = await (self._agree_on_resolution() if second else self._decide())
                    if option.resolution == Resolution.REJECT:
                        self.rec.notify("customer", "rejected", option.note or "Your request was declined")
                        raise Closing(CloseReason.REJECTED, option.note or "rejected after review")
                    await self._execute(option)
                    break
                except Escalated as escalated:
                    option = await self._dispute(escalated.reason, escalated.detail)
            if not await self._follow_up():
                break
            option, second = None, True
        self._close(CloseReason.RESOLVED, "resolved")

    async def _decide(self) -> ProposalOption:
        out_of_scope = await self._preliminary_review()
        if out_of_scope is not None:
            # Every rejection needs a supervisor: propose it, and carry on if it is overruled.
            reject = ProposalOption(resolution=Resolution.REJECT, note=out_of_scope)
            self.s.options = [reject]
            if await self._approval():
                return reject
            self.p.event(
                "rejection_overruled", "out-of-scope rejection overruled; case goes on", actor="supervisor"
            )
        await self._merchant_verification()
        return await self._agree_on_resolution()

    async def _preliminary_review(self) -> str | None:
        """None when the case may go on; the reason when it is out of scope."""
        await self.p.enter(Step.PRELIMINARY_REVIEW)
        snapshot = self.ladder.snapshots["business"]
        while True:
            outcome = review(self.p.request, self.inp.received_at, self.policy, snapshot)
            if outcome.verdict == "accept":
                self.p.event("review_passed", "within the after-sales window, information complete")
                return None
            if outcome.verdict == "out_of_scope":
                self.p.event("review_out_of_scope", outcome.reason)
                return outcome.reason
            missing = ", ".join(outcome.missing)
            await self.p.enter(Step.AWAITING_CUSTOMER_INFO, {Action.CUSTOMER_INFO})
            self.rec.notify("customer", "info_request", f"Please supply: {missing}")
            self.p.event("info_requested", f"asked the customer once for: {missing}", missing=outcome.missing)
            answered = await self.waits.wait(Step.AWAITING_CUSTOMER_INFO)
            if isinstance(answered, TimedOut):
                self.rec.notify("customer", "expired", "Your request was closed: information missing")
                raise Closing(
                    CloseReason.EXPIRED, "the customer did not supply the missing information in time"
                )
            self.p.request = merge_customer_info(self.p.request, answered.payload.model_dump(mode="json"))
            self.p.event("info_supplied", "customer supplied information", actor=answered.actor)
            await self.p.enter(Step.PRELIMINARY_REVIEW)

    async def _merchant_verification(self) -> None:
        await self.p.enter(Step.MERCHANT_VERIFICATION, {Action.MERCHANT_RESPONSE})
        self.rec.notify("merchant", "verify_claim", "A customer claim waits for your verification")
        answered = await self.waits.wait_for(Step.MERCHANT_VERIFICATION, MerchantResponse)
        if isinstance(answered, TimedOut):
            if answered.action == "to_dispute":
                raise Escalated("the merchant did not verify the claim in time")
            self.s.reason_codes.append("merchant_timeout_auto_accept")
            why = "merchant did not answer in time: claim accepted"
            self.p.event("auto_accepted", why, reason="merchant_timeout")
            return
        response = answered.payload
        self.s.merchant_response = response
        verdict, urls = (
            "accepts" if response.accepts_claim else "contests",
            [e.url for e in response.evidence],
        )
        self.p.event(
            "merchant_responded", f"merchant {verdict} the claim", actor=answered.actor, evidence=urls
        )

    async def _agree_on_resolution(self) -> ProposalOption:
        while True:
            await self.p.enter(Step.LIABILITY_AND_PROPOSAL, {Action.PROPOSAL})
            proposed = await self.waits.answer(Step.LIABILITY_AND_PROPOSAL, Proposal)
            proposal = proposed.payload
            self.s.liability, self.s.options, self.s.chosen = proposal.liability, list(proposal.options), None
            self.p.event(
                "proposed",
                f"liability {proposal.liability}; {len(proposal.options)} option(s)",
                actor=proposed.actor,
                liability=str(proposal.liability),
                shipping_paid_by=return_shipping_payer(proposal.liability),
            )
            if needs_approval(proposal.options, self.policy) and not await self._approval():
                continue  # the supervisor sent it back: the agent proposes again
            if proposal.options[0].resolution == Resolution.REJECT:
                self.s.chosen = 0
                return proposal.options[0]
            await self.p.enter(Step.AWAITING_CUSTOMER_DECISION, {Action.CUSTOMER_DECISION})
            self.rec.notify("customer", "proposal", "Please choose how we resolve your case")
            answered = await self.waits.wait_for(Step.AWAITING_CUSTOMER_DECISION, CustomerDecision)
            if isinstance(answered, TimedOut):
                self.s.chosen = 0
                self.s.reason_codes.append("customer_timeout_first_option")
                self.p.event("auto_accepted", "customer did not answer: first option accepted")
                self.rec.notify("customer", "auto_accepted", "We went ahead with the first option")
                return self.s.options[0]
            decision = answered.payload
            if (chosen := decision.accept_option) is not None:
                self.s.chosen = chosen
                self.p.event("option_accepted", f"customer accepted option {chosen}", actor=answered.actor)
                return self.s.options[chosen]
            self.s.declines += 1
            self.p.event(
                "declined",
                "customer declined the proposal",
                actor=answered.actor,
                private={"reason": decision.reason},
            )
            if self.s.declines >= 2:
                raise Escalated("the customer declined the revised proposal")
            self.s.revisions += 1

    async def _approval(self) -> bool:
        """A supervisor approves or sends back what the policy says needs approval; with approval
        tiers, the tier of the amount decides who (supervisor, or manager above its bound), with the
        tier's own limit. The decision is audited with the tier (and whom a delegate acted for)."""
        tier = self.p.approval_tier()
        approver = tier.role if tier is not None else "supervisor"
        self.s.approval_tier = tier.role if tier is not None else None
        await self.p.enter(
            Step.AWAITING_APPROVAL, {Action.APPROVAL}, limit=tier.limit if tier is not None else None
        )
        self.rec.notify(approver, "approval_needed", "A decision waits for your approval")
        answered = await self.waits.answer(Step.AWAITING_APPROVAL, Approval)
        approval = answered.payload
        approved = approval.decision == "approve"
        audit = tier_audit(tier, approval.on_behalf_of)
        self.s.approval_tier = None
        self.p.event(
            "approved" if approved else "approval_rejected",
            f"{approver} {'approved' if approved else 'sent back'} the decision",
            actor=answered.actor,
            decision=approval.decision,
            private={"comment": approval.comment},
            **audit,
        )
        return approved

    async def _dispute(self, reason: str, detail: str = "") -> ProposalOption:
        """The dispute team rules: liability and a resolution, which then executes. A ruling whose
        amounts are above the approval thresholds needs a supervisor, like a proposal does."""
        self.p.event("escalated", f"to the dispute team: {reason}", private={"detail": detail})
        decided = await self._dispute_evidence(reason)
        while True:
            if decided is None:
                await self.p.enter(Step.DISPUTE, {Action.DISPUTE_RULING})
                self.rec.notify("dispute", "dispute_opened", f"A case needs a ruling: {reason}")
                ruled = await self.waits.answer(Step.DISPUTE, DisputeRuling)
                decided = rulings.applied(self.p, ruled.payload, ruled.actor)
            if not amounts_need_approval([decided], self.policy) or await self._approval():
                return decided
            decided = None  # sent back: the team rules again

    async def _dispute_evidence(self, reason: str) -> ProposalOption | None:
        """Both parties may give evidence by a deadline; the team may rule at any time meanwhile.

        Returns the ruling (the team's, or the automatic one against the party that missed the
        deadline while the other gave evidence), or None when the team must rule after the deadline.
        """
        await self.p.enter(Step.DISPUTE_EVIDENCE, {Action.DISPUTE_EVIDENCE, Action.DISPUTE_RULING})
        self.s.evidence_from = frozenset()
        due = self.ladder.local(self.ladder.clocks[Step.DISPUTE_EVIDENCE].due_at)
        self.rec.notify("dispute", "dispute_opened", f"A case needs a ruling: {reason}")
        for party in ("customer", "merchant"):
            self.rec.notify(party, "dispute_evidence", f"Give your evidence for the dispute by {due}")
        while True:
            answered = await self.waits.wait(Step.DISPUTE_EVIDENCE)
            if isinstance(answered, TimedOut):  # the evidence deadline passed
                return rulings.judged_automatically(self.p)
            if isinstance(answered.payload, DisputeRuling):
                return rulings.applied(self.p, answered.payload, answered.actor)
            evidence = answered.payload
            assert isinstance(evidence, DisputeEvidence)  # the step takes these two only
            self.s.evidence_from |= {evidence.party}
            self.p.event(
                "dispute_evidence",
                f"{evidence.party} gave evidence",
                actor=answered.actor,
                party=evidence.party,
                evidence=[e.url for e in evidence.evidence],
                private={"statement": evidence.statement},
            )
            if self.s.evidence_from == {"customer", "merchant"}:
                self.p.event("dispute_evidence_complete", "both parties gave evidence")
                return None
            self.inbox.expecting = {Action.DISPUTE_EVIDENCE, Action.DISPUTE_RULING}

    async def _execute(self, option: ProposalOption) -> None:
        resolution = option.resolution
        on_scan = option.refund if refund_on_scan(option, self.p.request, self.policy) else None
        returned = Returned()
        if resolution in (Resolution.RETURN_AND_REFUND, Resolution.EXCHANGE, Resolution.REPAIR):
            returned = await self._return_goods(on_scan)
            if returned.lost and option.refund is None:
                raise Escalated("the return parcel was lost in transit")
        if option.refund is not None and not returned.paid:
            if returned.lost:  # the carrier owes it; the platform advances it, once
                self.s.reason_codes.append("refund_advanced_lost_parcel")
            await self._refund(option.refund)
        if resolution == Resolution.EXCHANGE:
            await self._merchant_ships(Step.SHIPPING_REPLACEMENT, "replacement", "ship the replacement")
        elif resolution == Resolution.REPAIR:
            await self._merchant_ships(Step.REPAIRING, "repair_return", "repair and ship the item back")
        elif resolution == Resolution.RESEND:
            await self._merchant_ships(Step.RESENDING, "resend", "send the missing part")
        if option.compensation is not None:
            await self._compensate(option.compensation)

    async def _return_goods(self, refund_on_scan: Money | None = None) -> Returned:
        # The carrier's scans move the return (DESIGN §13): policies resolved since issue 19 say so.
        tracked = self.policy.carrier_scans and workflow.patched("carrier-scans")
        await self.p.enter(Step.AWAITING_RETURN_SHIPMENT, {Action.RETURN_SHIPMENT})
        payer = await self.transit.return_label(tracked)
        self.rec.notify("customer", "return_instructions", f"Ship the item back; shipping paid by {payer}")
        shipped = await self.waits.wait_for(Step.AWAITING_RETURN_SHIPMENT, ReturnShipment)
        if isinstance(shipped, TimedOut):
            raise Closing(CloseReason.EXPIRED, "the customer did not ship the return in time")
        self.s.return_tracking_no = shipped.payload.tracking_no
        scanned = is_carrier(shipped.actor)
        source = {"source": "carrier" if scanned else "manual"} if tracked else {}
        self.p.event(
            "return_shipped", f"return shipped with {shipped.payload.carrier}", actor=shipped.actor, **source
        )
        paid = False
        if refund_on_scan is not None and (scanned or not tracked):
            # Low-value order, customer in good standing: pay when the carrier scans the return.
            self.s.reason_codes.append("refund_on_return_scan")
            await self._refund(refund_on_scan)
            paid = True
        paid, lost = await self.transit.return_parcel(refund_on_scan, paid, tracked)
        if lost:
            return Returned(paid=paid, lost=True)
        await self._inspect()
        return Returned(paid=paid)

    async def _inspect(self) -> None:
        await self.p.enter(Step.AWAITING_INSPECTION, {Action.INSPECTION})
        self.rec.notify("merchant", "inspect_return", "A returned item waits for inspection")
        inspected = await self.waits.wait_for(Step.AWAITING_INSPECTION, Inspection)
        if isinstance(inspected, TimedOut):
            if inspected.action == "to_dispute":
                raise Escalated("the merchant did not inspect the return in time")
            self.s.reason_codes.append("inspection_timeout_auto_pass")
            self.p.event("auto_passed", "merchant did not inspect in time: inspection passed")
            return
        inspection = inspected.payload
        passed = "inspection passed" if inspection.passed else "inspection failed"
        self.p.event(
            "inspected",
            passed,
            actor=inspected.actor,
            passed=inspection.passed,
            private={"note": inspection.note},
        )
        if not inspection.passed:
            # The merchant disputes the returned item: the dispute team decides what is owed.
            raise Escalated("inspection failed", inspection.note)

    async def _refund(self, amount: Money) -> None:
        await self.p.enter(Step.REFUNDING, timed=True)
        self.s.money_moved = True
        call = calls.refund(self.p.next_refund(amount), before_durable=self.p.flush)
        try:
            outcome = await self.waits.while_running(Step.REFUNDING, call)
        except calls.CallFailed as err:
            # Retries are exhausted or the provider refused: people decide, the case does not fail.
            self.p.event("refund_failed", f"refund of {amount} failed: {err}")
            self.rec.notify(
                "supervisor", "refund_failed", f"Refund of {amount} failed; the dispute team decides"
            )
            raise Escalated(f"refund of {amount} failed") from err
        self.p.refunded(outcome)

    async def _merchant_ships(self, step: Step, kind: str, what: str) -> None:
        """The merchant ships (a replacement, the repaired item, a missing part) and gives the tracking
        number; when the carrier's scans move parcels (policy `carrier_scans`), the case then waits for
        the carrier's delivery scan (`Transit.outbound_parcel`). Cases that reached this step before
        that existed go straight on to follow-up (`outbound-delivery`)."""
        tracked = self.policy.carrier_scans and workflow.patched("outbound-delivery")
        await self.p.enter(step, {Action.REPLACEMENT_SHIPMENT})
        self.rec.notify("merchant", f"{kind}_needed", f"Please {what} and give the tracking number")
        shipped = await self.waits.wait_for(step, ReplacementShipment)
        if isinstance(shipped, TimedOut):  # long overdue: another remedy instead of a case that never ends
            raise Escalated(f"the merchant did not {what} in time")
        if tracked:
            self.s.outbound_delivered = False  # a new parcel (an earlier remedy's was another)
        self.s.outbound_tracking_no = shipped.payload.tracking_no
        self.p.event(f"{kind}_shipped", f"{kind} shipped with {shipped.payload.carrier}", actor=shipped.actor)
        self.rec.notify("customer", f"{kind}_shipped", f"Your item is on its way ({shipped.payload.carrier})")
        if tracked:
            await self.transit.outbound_parcel()

    async def _compensate(self, amount: Money) -> None:
        await self.p.enter(Step.COMPENSATING, timed=True)
        self.s.money_moved = True
        call = calls.credit(self.p.coupon(amount), before_durable=self.p.flush)
        await self.waits.while_running(Step.COMPENSATING, call)
        self.s.compensated = (self.s.compensated or Money.zero(self.p.currency)) + amount
        self.p.event("compensated", f"coupon of {amount} issued")

    async def _follow_up(self) -> bool:
        """The survey and the next-day callback; True when the callback asks for a second remedy."""
        await self.p.enter(Step.FOLLOW_UP, {Action.SURVEY, Action.SECOND_REMEDY})
        self.rec.notify("customer", "survey", "Is your issue resolved? Please rate our service")
        self.p.schedule_callback()
        answered = await self.waits.wait(Step.FOLLOW_UP)
        if isinstance(answered, TimedOut):
            self.p.event("survey_closed", "survey window ended without a score")
            return False
        if isinstance(answered.payload, SecondRemedy):
            self.s.options, self.s.chosen = [], None
            self.p.event(
                "second_remedy",
                "callback: problem not solved; the agent proposes a second remedy",
                actor=answered.actor,
                private={"reason": answered.payload.reason},
            )
            return True
        survey = answered.payload
        assert isinstance(survey, Survey)
        self.s.survey = survey
        self.p.event(
            "survey_answered",
            f"CSAT {survey.csat}, NPS {survey.nps}",
            actor=answered.actor,
            csat=survey.csat,
            nps=survey.nps,
            private={"comment": survey.comment},
        )
        return False

    def _close(self, reason: CloseReason, why: str) -> None:
        if self.s.step == Step.CLOSED:
            return
        self.s.close_reason = reason
        self.p.event("closed", f"closed {reason}: {why}", reason=str(reason))
        self.p.step_to(Step.CLOSED)

    async def _appeal_window(self) -> None:
        """A closed case may be appealed once within the window; the dispute team reviews it."""
        if self.s.close_reason in (CloseReason.WITHDRAWN, CloseReason.DUPLICATE):
            return
        ends = workflow.now() + timedelta(days=self.policy.appeal_window_days) / self.policy.time_scale
        appealed = await self.waits.appeal(ends, self.inp.case_id)
        if appealed is None:
            return
        appeal, actor, self.p.already_refunded = appealed
        self.s.appealed = True
        self.s.close_reason = None
        self.p.event("appealed", "the customer appealed", actor=actor, private={"reason": appeal.reason})
        try:
            await self._resolve(await self._dispute("appeal", appeal.reason))
        except Closing as closing:
            self._close(closing.reason, closing.why)

    # ------------------------------------------------------------------ actions, signals, queries

    @workflow.update(dynamic=True)
    async def act(self, name: str, args: Sequence[RawValue]) -> CaseView:
        """Every human action, by its name (domain.enums.Action): validated, then into the inbox."""
        return await self.handlers.update(name, args)

    @act.validator
    def validate_act(self, name: str, args: Sequence[RawValue]) -> None:
        self.handlers.validate(name, args)

    @workflow.signal(dynamic=True)
    def act_by_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.handlers.signal(name, args)

    @workflow.signal(name=names.SIGNAL_CARRIER_SCAN)
    def carrier_scan(self, scan: CarrierScan) -> None:
        """Sent by the carrier webhook (api/routes_carriers.py) for a parcel of this case."""
        self.p.carrier_scan(scan)

    @workflow.signal(name=names.SIGNAL_CALENDAR_CHANGED)
    def calendar_changed(self) -> None:
        """Sent by the calendar admin endpoint: reload the calendar and move deadlines."""
        self.ladder.calendar_dirty = True

    @workflow.signal(name=names.SIGNAL_FREEZE)
    def freeze(self, reason: str) -> None:
        """Holiday freeze: pause every running clock of this case, keeping the time used."""
        self.ladder.frozen = reason or "freeze"

    @workflow.signal(name=names.SIGNAL_THAW)
    def thaw(self) -> None:
        self.ladder.frozen = None

    @workflow.query(name=names.QUERY_CASE)
    def query_case(self) -> CaseView:
        return self.p.view()

    @workflow.query(name=names.QUERY_CLOCKS)
    def query_clocks(self) -> dict[str, SlaClock]:
        return {str(step): clock for step, clock in self.ladder.clocks.items()}
