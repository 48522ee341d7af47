"""The composition root of a case workflow: its state and the machinery the process uses.

`CaseWorkflow` holds one `CaseParts` and reads as the process; the parts know how to enter a step,
record an event, write what changed, validate an action and show the case.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.approval import approval_amount
    from domain.carriers import CarrierScan
    from domain.enums import Action, Liability, Step
    from domain.models import (
        CaseInput,
        CaseView,
        Contract,
        OutboundDelivered,
        ProposalOption,
        ReplacementShipment,
        ReturnDelivered,
        ReturnShipment,
    )
    from domain.money import Money
    from domain.steps import AGENT_STEPS, StepLimit
    from domain.tiers import ApprovalTier, tier_for
    from workflows import calls, shared
    from workflows import search_attributes as sa
    from workflows.inbox import Inbox
    from workflows.ladder import Ladder
    from workflows.recorder import Recorder
    from workflows.rules import check_action, check_approver
    from workflows.state import CaseState, attributes, build_view, details
    from workflows.waits import Waits


class CaseParts:
    def __init__(self, inp: CaseInput) -> None:
        self.inp = inp
        self.request = inp.request  # grows when the customer supplies missing information
        # The input holds the shared policy too: the SDK keeps the input for the life of the run.
        self.policy = inp.policy = shared.policy(inp.policy)
        self.currency = inp.request.order.lines[0].unit_price.currency
        self.s = CaseState(refunded=Money.zero(self.currency))
        # Refunded on the claimed order lines by earlier cases (moves only when an appeal re-claims them).
        self.already_refunded = inp.already_refunded or Money.zero(self.currency)
        self.rec = Recorder(inp.case_id)
        self.rec.knows_attributes(_initial_attributes())
        self.inbox = Inbox()
        self.ladder = Ladder(inp.request, inp.received_at, self.policy, self.s, self.rec)
        self.waits = Waits(self.s, self.inbox, self.ladder, self.rec, self.flush)
        self.updated_at = inp.received_at
        self.refund_seq = 0

    async def enter(
        self,
        step: Step,
        expecting: set[Action] | None = None,
        timed: bool = False,
        limit: StepLimit | None = None,
    ) -> None:
        """Move to a step; a step that waits (on people, or on a provider call: `timed`) starts its
        clock (on `limit` when given, else the policy's). Nothing is written here: the wait that
        follows writes what changed."""
        if expecting or timed:
            await self.ladder.start_clock(step, limit)
        self.step_to(step)
        self.inbox.expecting = set(expecting or ())
        await self.auto_assign(step)

    async def auto_assign(self, step: Step) -> None:
        """A step that waits on an agent gets one (DESIGN §9): the least-loaded online agent with the
        queue's skill. With nobody online the case waits in its queue, its clock running, until
        someone claims it or a supervisor assigns it. Cases that reached such a step before this
        existed replay without it (`auto-assign`)."""
        if step not in AGENT_STEPS or self.s.assigned_to is not None:
            return
        if not workflow.patched("auto-assign"):
            return
        pick = await calls.pick_assignee(self.inp.case_id, self.inp.queue)
        if pick is None or pick.person_id is None:
            return
        self.waits.reassign(
            pick.person_id,
            "auto_assigned",
            "system",
            queue=pick.queue,
            open_cases=pick.open_cases,
        )

    def step_to(self, step: Step) -> None:
        previous, self.s.step = self.s.step, step
        self.ladder.follow_platform_clock()
        if previous != step:
            self.event("step", f"{previous} → {step}", to=str(step))

    def event(self, kind: str, summary: str, actor: str = "system", **payload: Any) -> None:
        self.updated_at = workflow.now()
        self.rec.event(kind, actor, summary, self.s.step, **payload)

    async def flush(self) -> None:
        """Write what changed (events, view fields, notifications) and answer the Updates it stored."""
        workflow.set_current_details(details(self.s, self.ladder))
        await self.rec.flush(self.view(), attributes(self.s))
        self.inbox.settle()

    def schedule_callback(self) -> None:
        """Seed 003: the agent calls the customer back on the next day the service desk works."""
        self.s.callback_at = at = self.ladder.next_desk_day()
        self.event("callback_scheduled", f"callback due {self.ladder.local(at)}", callback_at=at.isoformat())
        self.rec.notify("agent", "callback", f"Call the customer back on {self.ladder.local(at)} to confirm")

    def next_refund(self, amount: Money) -> act.RefundRequest:
        """A new refund decision: the next seq, so its key differs from every earlier one's."""
        self.refund_seq += 1
        order = self.request.order
        return act.RefundRequest(
            case_id=self.inp.case_id,
            seq=self.refund_seq,
            order_id=order.order_id,
            payment_method=order.payment_method,
            amount=amount,
        )

    def coupon(self, amount: Money) -> act.CreditRequest:
        """The case's coupon credit, keyed by case: issued once however often the call is made."""
        return act.CreditRequest(
            idempotency_key=self.rec.key("credit"), case_id=self.inp.case_id, kind="coupon", amount=amount
        )

    def refunded(self, outcome: act.RefundOutcome) -> None:
        """A refund paid: counted against what is left to refund, audited, the customer told."""
        amount = outcome.amount
        self.s.refunded = (self.s.refunded or Money.zero(self.currency)) + amount
        self.event(
            "refunded",
            f"refunded {amount}",
            provider_refund_id=outcome.provider_refund_id,
            amount=str(amount.amount),
            currency=amount.currency,
        )
        self.rec.notify("customer", "refunded", f"We refunded {amount} to your original payment method")

    def approval_tier(self) -> ApprovalTier | None:
        """The tier that approves the options' amount, or None (a supervisor, no tiers). Tiers come
        with policies resolved since issue 19, and with workers that know them (`approval-tiers`)."""
        tiers = self.policy.approval_tiers
        if not tiers or not workflow.patched("approval-tiers"):
            return None
        return tier_for(tiers, approval_amount(self.s.options))

    def decided(self, liability: Liability, option: ProposalOption, reason_code: str | None = None) -> None:
        """A ruling (the team's or the automatic one) is the case's only option, taken."""
        self.s.liability, self.s.options, self.s.chosen = liability, [option], 0
        if reason_code is not None:
            self.s.reason_codes.append(reason_code)

    def check(self, action: Action, payload: dict[str, Any], actor: str = "") -> Contract:
        parsed = check_action(action, payload, self.s, self.inbox.expecting, self.refundable(), self.policy)
        check_approver(action, self.s.approval_tier, actor)  # type: ignore[arg-type]  # a TierRole
        return parsed

    def carrier_scan(self, scan: CarrierScan) -> None:
        """A carrier's scan of one of the case's parcels (DESIGN §13): recorded; a pickup or a scan on
        the way moves a return that waits for shipment (and keeps a parcel in transit from being
        declared lost), a delivery moves it to inspection; a replacement's delivery confirms it. A
        replacement, repair or part waiting in `outbound_in_transit` moves the same way: a scan on the
        way restarts its limit, the delivery scan ends the wait."""
        s = self.s
        if scan.event_id in s.scan_ids:
            return
        s.scan_ids |= {scan.event_id}
        s.unsaved_scan = True  # wakes the wait, which writes it (only carrier scans set this)
        ours_return = scan.tracking_no in {s.return_tracking_no, s.return_label_tracking_no} - {None}
        ours_outbound = scan.tracking_no == s.outbound_tracking_no
        what = f"{scan.carrier} {scan.kind.replace('_', ' ')} scan of {scan.tracking_no}"
        facts = {"event_id": scan.event_id, "tracking_no": scan.tracking_no, "scan": scan.kind}
        if s.step == Step.CLOSED or not (ours_return or ours_outbound):
            self.event(
                "carrier_scan_ignored", f"{what} ignored: no parcel of this case waits", scan.actor, **facts
            )
            return
        self.event("carrier_scan", what, scan.actor, scanned_at=scan.at.isoformat(), **facts)
        if scan.kind == "exception":
            self.rec.notify(
                "agent", "carrier_exception", f"Carrier exception on {scan.tracking_no}: {scan.note}"
            )
            return
        if ours_outbound and s.step == Step.OUTBOUND_IN_TRANSIT and not s.outbound_delivered:
            if scan.kind == "delivered" and Action.OUTBOUND_DELIVERED in self.inbox.expecting:
                s.outbound_delivered = True
                self.inbox.accept(Action.OUTBOUND_DELIVERED, OutboundDelivered(), scan.actor, "signal")
                s.unsaved_scan = False  # the wait wakes for it and writes it with what it moves
            elif scan.kind != "delivered" and Action.REPLACEMENT_SHIPMENT in self.inbox.expecting:
                on_the_way = ReplacementShipment(carrier=scan.carrier, tracking_no=scan.tracking_no)
                self.inbox.accept(Action.REPLACEMENT_SHIPMENT, on_the_way, scan.actor, "signal")
                s.unsaved_scan = False
                return
        if ours_outbound:
            if scan.kind == "delivered" and not s.outbound_delivered:
                s.outbound_delivered = True
                confirmed = f"{scan.tracking_no} confirmed delivered by the carrier"
                self.event("outbound_delivered", confirmed, scan.actor)
                self.rec.notify("customer", "outbound_delivered", "Your item was delivered")
            return
        if scan.kind == "delivered":
            s.return_delivered = True
        if scan.kind == "delivered" and Action.RETURN_DELIVERED in self.inbox.expecting:
            self.inbox.accept(Action.RETURN_DELIVERED, ReturnDelivered(), scan.actor, "signal")
            s.unsaved_scan = False  # the wait wakes for it and writes it with what it moves
        elif Action.RETURN_SHIPMENT in self.inbox.expecting:
            shipped = ReturnShipment(carrier=scan.carrier, tracking_no=scan.tracking_no)
            self.inbox.accept(Action.RETURN_SHIPMENT, shipped, scan.actor, "signal")
            s.unsaved_scan = False

    def signal_ignored(self, actor: str, why: str) -> None:
        self.event("signal_ignored", why, actor=actor)

    def refundable(self) -> Money:
        """What is left to refund on the claimed order lines, across every case of those lines."""
        refunded = self.already_refunded.amount + (self.s.refunded or Money.zero(self.currency)).amount
        rest = self.request.paid_total.amount - refunded
        return Money(amount=max(rest, Decimal(0)), currency=self.currency)

    def view(self) -> CaseView:
        return build_view(
            self.inp, self.request, self.s, self.ladder, self.rec, self.refundable(), self.updated_at
        )


def _initial_attributes() -> dict[SearchAttributeKey[Any], Any]:
    """What the API set at start (none in tests that start the workflow directly)."""
    typed = workflow.info().typed_search_attributes
    keys: list[SearchAttributeKey[Any]] = [sa.CASE_STATUS, sa.CASE_STEP, sa.SLA_BREACHED]
    return {key: typed.get(key) for key in keys if typed.get(key) is not None}
