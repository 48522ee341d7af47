"""Parcels on their way, moved by the carrier's scans (DESIGN §13): a return to the merchant, and
the merchant's replacement, repaired item or missing part to the customer.

Each carrier scan on the way restarts the step's limit, so a parcel is lost after the policy's time
without any scan: a carrier claim, liability logistics. The merchant (or an agent) may still confirm
a delivery by hand, audited as manual. `carrier_scan` in `parts` turns the scans into the actions
these waits take.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.approval import return_shipping_payer
    from domain.carriers import is_carrier
    from domain.enums import Action, Liability, Step
    from domain.models import OutboundDelivered, ReplacementShipment, ReturnDelivered, ReturnShipment
    from domain.money import Money
    from workflows import calls
    from workflows.outcomes import Escalated, TimedOut
    from workflows.parts import CaseParts


@dataclass(frozen=True)
class Returned:
    """How a return ended: `paid` when the refund was paid on the carrier's scan, `lost` when the
    parcel never arrived (no scan within the policy's limit)."""

    paid: bool = False
    lost: bool = False


class Transit:
    __slots__ = ("inbox", "inp", "p", "rec", "refund", "s", "waits")  # one per cached case

    def __init__(self, parts: CaseParts, refund: Callable[[Money], Awaitable[None]]) -> None:
        self.p, self.refund = parts, refund
        self.inp, self.s, self.rec, self.inbox, self.waits = (
            parts.inp,
            parts.s,
            parts.rec,
            parts.inbox,
            parts.waits,
        )

    async def return_label(self, tracked: bool) -> str:
        """The return label, paid by whom the liability says (returned); when the carrier's scans
        move the return (`tracked`), its number is the one the pickup scan will find the case by."""
        payer = return_shipping_payer(self.s.liability)
        label = act.ReturnLabelRequest(
            idempotency_key=self.rec.key("return-label"), case_id=self.inp.case_id, payer=payer
        )
        receipt = await calls.provider(
            act.CREATE_RETURN_LABEL, label, act.ProviderReceipt, f"return label, shipping paid by {payer}"
        )
        if tracked and receipt.tracking_no:
            self.s.return_label_tracking_no = self.s.return_tracking_no = receipt.tracking_no
        return payer

    async def return_parcel(
        self, refund_on_scan: Money | None, paid: bool, tracked: bool
    ) -> tuple[bool, bool]:
        """The return on its way: (paid on scan, lost). Untracked, the merchant confirms its
        delivery. Tracked, the carrier's scans move it: each restarts the limit, so the parcel is
        lost after the policy's time without any scan; the merchant (or an agent) may still confirm
        the delivery by hand (audited as manual)."""
        if not tracked:
            await self.p.enter(Step.RETURN_IN_TRANSIT, {Action.RETURN_DELIVERED})
            delivered = await self.waits.wait(Step.RETURN_IN_TRANSIT)
            if isinstance(delivered, TimedOut):  # a parcel that never arrives must not stall the case
                self.s.reason_codes.append("return_parcel_overdue")
                raise Escalated("the return parcel did not arrive in time")
            self.p.event("return_delivered", "return delivered to the merchant", actor=delivered.actor)
            return paid, False
        restart = True
        while not self.s.return_delivered:
            expecting = {Action.RETURN_DELIVERED, Action.RETURN_SHIPMENT}
            if restart:
                await self.p.enter(Step.RETURN_IN_TRANSIT, expecting)
            self.inbox.expecting = expecting
            answered = await self.waits.wait(Step.RETURN_IN_TRANSIT)
            if isinstance(answered, TimedOut):
                if answered.action == "lost_parcel":
                    await self.lost()
                    return paid, True
                self.s.reason_codes.append("return_parcel_overdue")
                raise Escalated("the return parcel did not arrive in time")
            scanned = is_carrier(answered.actor)
            source = "carrier" if scanned else "manual"
            if isinstance(answered.payload, ReturnDelivered):
                self.p.event(
                    "return_delivered", "return delivered to the merchant", answered.actor, source=source
                )
                return paid, False
            assert isinstance(answered.payload, ReturnShipment)
            restart = scanned
            if not scanned:  # the customer corrected the tracking number: the clock runs on
                self.s.return_tracking_no = answered.payload.tracking_no
                self.p.event(
                    "return_tracking_updated", "tracking number updated", answered.actor, source=source
                )
            elif refund_on_scan is not None and not paid:
                self.s.reason_codes.append("refund_on_return_scan")
                await self.refund(refund_on_scan)
                paid = True
        self.p.event("return_delivered", "return delivered to the merchant", "carrier", source="carrier")
        return paid, False

    async def outbound_parcel(self) -> None:
        """The merchant's parcel on its way to the customer, moved by the carrier's scans like a return
        (`return_parcel`): a pickup or in-transit scan restarts the limit, the delivery scan ends the
        wait, and the customer is told. Without tracking, the merchant or an agent confirms the
        delivery by hand (audited as manual) and may correct the tracking number (the clock runs on).
        No scan within the limit: the parcel is lost (a carrier claim, liability logistics, nothing
        paid on the loss) and the dispute team decides how the customer is made good."""
        restart = True
        while True:
            expecting = {Action.OUTBOUND_DELIVERED, Action.REPLACEMENT_SHIPMENT}
            if restart:
                await self.p.enter(Step.OUTBOUND_IN_TRANSIT, expecting)
            if self.s.outbound_delivered:  # scanned delivered while the clock started: recorded then
                return
            self.inbox.expecting = expecting
            answered = await self.waits.wait(Step.OUTBOUND_IN_TRANSIT)
            if isinstance(answered, TimedOut):
                if answered.action == "lost_parcel":
                    await self.lost(outbound=True)
                    raise Escalated("the outbound parcel was lost in transit")
                self.s.reason_codes.append("outbound_parcel_overdue")
                raise Escalated("the outbound parcel did not arrive in time")
            scanned = is_carrier(answered.actor)
            source = "carrier" if scanned else "manual"
            tracking_no = self.s.outbound_tracking_no
            if isinstance(answered.payload, OutboundDelivered):
                self.s.outbound_delivered = True
                self.p.event(
                    "outbound_delivered",
                    f"{tracking_no} delivered to the customer",
                    answered.actor,
                    source=source,
                )
                self.rec.notify("customer", "outbound_delivered", "Your item was delivered")
                return
            assert isinstance(answered.payload, ReplacementShipment)
            restart = scanned
            if not scanned:  # the merchant corrected the tracking number: the clock runs on
                self.s.outbound_tracking_no = answered.payload.tracking_no
                self.p.event(
                    "outbound_tracking_updated", "tracking number updated", answered.actor, source=source
                )

    async def lost(self, outbound: bool = False) -> None:
        """No carrier scan within the limit: a carrier claim, and the carrier (logistics) is liable.
        `outbound`: the merchant's parcel to the customer (else the customer's return)."""
        self.s.reason_codes.append("outbound_parcel_lost" if outbound else "return_parcel_lost")
        self.s.liability = Liability.LOGISTICS
        tracking_no = (self.s.outbound_tracking_no if outbound else self.s.return_tracking_no) or ""
        self.p.event(
            "parcel_lost",
            f"no carrier scan of {tracking_no} in time: parcel lost",
            liability="logistics",
            **({"parcel": "outbound"} if outbound else {}),
        )
        claim = act.CarrierClaimRequest(
            idempotency_key=self.rec.key("outbound-carrier-claim" if outbound else "carrier-claim"),
            case_id=self.inp.case_id,
            tracking_no=tracking_no,
        )
        try:
            receipt = await calls.provider(
                act.OPEN_CARRIER_CLAIM, claim, act.ProviderReceipt, f"carrier claim for {tracking_no}"
            )
            self.p.event(
                "carrier_claim_opened", f"carrier claim {receipt.reference} opened", claim=receipt.reference
            )
        except calls.CallFailed as err:  # the claim is the platform's business: the refund goes ahead
            self.p.event("carrier_claim_failed", f"carrier claim could not be opened: {err}")
            self.rec.notify("supervisor", "carrier_claim_failed", f"Open a carrier claim for {tracking_no}")
        if outbound:
            self.rec.notify(
                "customer",
                "parcel_lost",
                "Your parcel was lost by the carrier; we are deciding how to make it good",
            )
            self.rec.notify(
                "merchant",
                "parcel_lost",
                f"Parcel {tracking_no} lost: a carrier claim is open, the dispute team decides",
            )
            return
        self.rec.notify("customer", "parcel_lost", "Your return was lost by the carrier; we refund you now")
        self.rec.notify(
            "merchant", "parcel_lost", f"Return parcel {tracking_no} lost: a carrier claim is open"
        )
