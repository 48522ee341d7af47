# ruff: noqa: F811  # `fakes` is the fixture imported from test_workflow_branches
"""Policies, approval tiers and carriers in the case workflow (issue 19), under time skipping with
the fake activities of test_workflow_branches: a lost return parcel refunded once, fresh food refused
for a change of mind, a 2,500 CNY refund approved by a manager, an approval by delegation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from api.ids import new_case_id
from domain import names
from domain.carriers import CarrierScan, ScanKind
from domain.enums import Action, CloseReason, Liability, Step
from domain.models import CaseInput
from domain.policy import CasePolicy
from domain.policy_docs import resolve
from domain.review import excluded_category
from tests.support.cases import CaseDriver, kettle_request, record_history
from tests.test_workflow_branches import (  # noqa: F401  # the fixture
    EVIDENCE,
    Fakes,
    fakes,
    money,
    proposal,
    to_customer_decision,
)

# The platform's built-in policy as the API resolves it with no version stored: carriers move
# returns (lost after 15 days without a scan), fresh food & co. excluded from no-reason returns,
# supervisor up to 2,000 CNY and manager above.
PLATFORM = resolve([]).policy


async def start(
    fakes: Fakes, policy: CasePolicy = PLATFORM, category: str = "appliances", **request: Any
) -> CaseDriver:
    now = await fakes.env.get_current_time()
    data = kettle_request(now, **request).model_dump(mode="json")
    data["order"]["lines"][0]["category"] = category
    inp = CaseInput(
        case_id=new_case_id(now),
        request=kettle_request(now, **{**request, "order": data["order"]}),
        received_at=now,
        policy=policy,
    )
    return await CaseDriver(fakes.env.client, inp, fakes.task_queue).start()


async def scan(case: CaseDriver, kind: ScanKind, tracking_no: str = "SF-LABEL") -> None:
    """What the carrier webhook signals (api/routes_carriers.py); one event id per kind and parcel."""
    event = CarrierScan(
        carrier="sim",
        event_id=f"EV-{kind}-{tracking_no}",
        tracking_no=tracking_no,
        kind=kind,
        at=datetime.now(UTC),
    )
    await case.handle.signal(names.SIGNAL_CARRIER_SCAN, event)


def refunds(fakes: Fakes) -> list[str]:
    return list(fakes.provider.paid)


# ---------------------------------------------------------------------------- carriers


async def test_a_return_moves_on_the_carriers_scans_and_a_parcel_lost_for_n_days_is_refunded_once(
    fakes: Fakes,
) -> None:
    case = await start(fakes, price="129.00")
    await to_customer_decision(case, {"resolution": "return_and_refund", "refund": money("129.00")})
    view = await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    assert view.step == Step.AWAITING_RETURN_SHIPMENT
    view = await case.view_when(lambda v: v.return_tracking_no == "SF-LABEL", "the label's number")

    await scan(case, "pickup")  # nobody clicks: the carrier's pickup scan moves it
    view = await case.wait_for_step(Step.RETURN_IN_TRANSIT)
    await scan(case, "in_transit")
    await scan(case, "in_transit")  # the same event id again: ignored
    await case.quiet_view()
    await fakes.past(case, Step.RETURN_IN_TRANSIT)  # no scan for 15 days: lost

    view = await case.wait_for_step(Step.FOLLOW_UP)
    await case.quiet_view()
    assert view.liability == Liability.LOGISTICS
    assert "return_parcel_lost" in view.reason_codes and "refund_advanced_lost_parcel" in view.reason_codes
    assert view.refunded.amount == Decimal("129.00")
    assert len(refunds(fakes)) == 1, "the platform advances the refund once"
    claims = fakes.provider.attempts("open_carrier_claim")
    assert claims and {c.key for c in claims} == {claims[0].key}
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("carrier_scan") == 2 and "parcel_lost" in stored and "carrier_claim_opened" in stored
    shipped = [e for e in fakes.store.events(case.inp.case_id) if e.kind == "return_shipped"]
    assert shipped[0].actor == "carrier:sim" and shipped[0].payload["source"] == "carrier"
    assert ("customer", "parcel_lost") in fakes.store.sent(case.inp.case_id)
    await case.act(Action.SURVEY, {"csat": 4, "nps": 8})
    await case.handle.result()
    await record_history(case.handle, "lost_parcel_refunded_once")


async def test_refund_on_scan_is_paid_on_the_carriers_pickup_and_never_again_when_the_parcel_is_lost(
    fakes: Fakes,
) -> None:
    case = await start(fakes, price="89.00", customer_standing="good")
    await to_customer_decision(case, {"resolution": "return_and_refund", "refund": money("89.00")})
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    # The customer typing a tracking number pays nothing: the carrier's pickup scan does.
    view = await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF Express", "tracking_no": "SF77"})
    assert view.step == Step.RETURN_IN_TRANSIT and view.refunded.amount == 0
    await scan(case, "pickup", tracking_no="SF77")
    view = await case.view_when(
        lambda v: v.refunded.amount == Decimal("89.00"), "refunded on the pickup scan"
    )
    assert "refund_on_return_scan" in view.reason_codes
    await case.quiet_view()
    await fakes.past(case, Step.RETURN_IN_TRANSIT)
    view = await case.wait_for_step(Step.FOLLOW_UP)
    await case.quiet_view()
    assert view.refunded.amount == Decimal("89.00") and len(refunds(fakes)) == 1


async def test_a_delivery_scan_moves_the_return_to_inspection_and_a_manual_delivery_is_audited_as_manual(
    fakes: Fakes,
) -> None:
    case = await start(fakes)
    await to_customer_decision(case, {"resolution": "return_and_refund", "refund": money("129.00")})
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.view_when(lambda v: v.return_tracking_no == "SF-LABEL", "the label's number")
    await scan(case, "pickup")
    await case.wait_for_step(Step.RETURN_IN_TRANSIT)
    await scan(case, "delivered")
    await case.wait_for_step(Step.AWAITING_INSPECTION)
    await case.quiet_view()
    delivered = [e for e in fakes.store.events(case.inp.case_id) if e.kind == "return_delivered"]
    assert delivered[0].actor == "carrier:sim" and delivered[0].payload["source"] == "carrier"

    other = await start(fakes)  # a carrier without tracking: the merchant confirms by hand
    await to_customer_decision(other, {"resolution": "return_and_refund", "refund": money("129.00")})
    await other.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await other.act(Action.RETURN_SHIPMENT, {"carrier": "Local post", "tracking_no": "LP1"})
    view = await other.act(Action.RETURN_DELIVERED, {}, actor="merchant:M-100:key")
    assert view.step == Step.AWAITING_INSPECTION
    await other.quiet_view()
    delivered = [e for e in fakes.store.events(other.inp.case_id) if e.kind == "return_delivered"]
    assert delivered[0].payload["source"] == "manual"


# ---------------------------------------------------------------------------- exclusions


async def test_fresh_food_returned_for_a_change_of_mind_is_refused_with_a_supervisors_approval(
    fakes: Fakes,
) -> None:
    case = await start(fakes, category="fresh_food", reason="changed_mind", evidence=[])
    view = await case.wait_for_step(Step.AWAITING_APPROVAL)
    assert view.options[0].resolution == "reject"
    assert "fresh food is excluded from no-reason returns" in (view.options[0].note or "")
    assert view.approval_tier == "supervisor" and view.policy_version == "default"
    view = await case.act(Action.APPROVAL, {"decision": "approve"}, actor="supervisor:P-sup")

    result = await case.handle.result()
    await record_history(case.handle, "fresh_food_changed_mind_rejected")
    assert result.close_reason == CloseReason.REJECTED
    told = [m for m in fakes.store.notifications(case.inp.case_id) if m.template == "rejected"]
    assert told and "fresh food is excluded" in told[0].message
    assert not refunds(fakes)


def test_a_category_not_excluded_or_a_quality_claim_on_fresh_food_goes_on() -> None:
    request = kettle_request(datetime.now(UTC), reason="changed_mind")
    assert excluded_category(request, PLATFORM) is None  # appliances
    data = request.model_dump(mode="json")
    data["order"]["lines"][0]["category"] = "fresh_food"
    fresh = kettle_request(datetime.now(UTC), order=data["order"])  # quality issue
    assert excluded_category(fresh, PLATFORM) is None
    assert excluded_category(fresh, CasePolicy()) is None  # no exclusions: policies before issue 19


# ---------------------------------------------------------------------------- approval tiers


async def test_a_2500_cny_refund_needs_the_manager_a_supervisors_approval_is_refused(fakes: Fakes) -> None:
    case = await start(fakes, price="2500.00")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    view = await case.act(
        Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("2500.00")})
    )
    assert view.step == Step.AWAITING_APPROVAL and view.approval_tier == "manager"

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await case.act(Action.APPROVAL, {"decision": "approve"}, actor="supervisor:P-sup")
    assert getattr(refused.value.cause, "type", None) == names.NOT_APPROVER
    view = await case.act(Action.APPROVAL, {"decision": "approve", "comment": "ok"}, actor="manager:P-mgr")
    assert view.step == Step.AWAITING_CUSTOMER_DECISION and view.approval_tier is None
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    view = await case.wait_for_step(Step.FOLLOW_UP)
    await case.quiet_view()
    approved = [e for e in fakes.store.events(case.inp.case_id) if e.kind == "approved"]
    assert approved[0].payload["tier"] == "manager" and approved[0].actor == "manager:P-mgr"
    assert ("manager", "approval_needed") in fakes.store.sent(case.inp.case_id)
    assert view.refunded.amount == Decimal("2500.00")
    await case.act(Action.SURVEY, {"csat": 5, "nps": 10})
    await case.handle.result()
    await record_history(case.handle, "manager_approves_2500_refund")


async def test_the_manager_tier_has_its_own_limit(fakes: Fakes) -> None:
    case = await start(fakes, price="2500.00")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    view = await case.act(
        Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("2500.00")})
    )
    approval = next(c for c in view.sla if c.step == Step.AWAITING_APPROVAL)
    assert approval.limit == "8 working h"


async def test_a_manager_tier_approval_left_too_long_escalates_to_ops(fakes: Fakes) -> None:
    """The manager tier's own limit: its breach tells the managers, 25 % past it goes one level up to
    ops; no supervisor hears of it (a supervisor tier escalates to the managers)."""
    case = await start(fakes, price="2500.00")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    view = await case.act(
        Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("2500.00")})
    )
    assert view.approval_tier == "manager"
    await case.quiet_view()
    await fakes.past(case, Step.AWAITING_APPROVAL, "escalate")
    view = await case.view_when(lambda v: "sla_escalated" in [e.kind for e in v.timeline], "escalated")
    await case.quiet_view()
    assert view.step == Step.AWAITING_APPROVAL and view.sla_breached
    sent = fakes.store.sent(case.inp.case_id)
    assert ("manager", "sla_warning") in sent and ("manager", "sla_breached") in sent
    assert ("ops", "sla_escalated") in sent
    assert not {(role, t) for role, t in sent if role.startswith("supervisor") and t.startswith("sla_")}
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("sla_breached") == 1 and stored.count("sla_escalated") == 1
    view = await case.act(Action.APPROVAL, {"decision": "approve"}, actor="manager:P-mgr")
    assert view.step == Step.AWAITING_CUSTOMER_DECISION


async def test_a_supervisor_tier_approval_left_too_long_escalates_to_the_managers(fakes: Fakes) -> None:
    case = await start(fakes, price="900.00")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    view = await case.act(Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("900.00")}))
    assert view.approval_tier == "supervisor"
    await case.quiet_view()
    await fakes.past(case, Step.AWAITING_APPROVAL, "escalate")
    await case.view_when(lambda v: "sla_escalated" in [e.kind for e in v.timeline], "escalated")
    await case.quiet_view()
    sent = fakes.store.sent(case.inp.case_id)
    assert ("supervisor", "sla_breached") in sent and ("manager", "sla_escalated") in sent
    assert ("supervisor_manager", "sla_escalated") not in sent


async def test_a_delegate_approves_for_an_away_supervisor_and_the_audit_names_both(fakes: Fakes) -> None:
    case = await start(fakes, price="900.00")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    view = await case.act(Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("900.00")}))
    assert view.approval_tier == "supervisor"
    # What the API sends for an agent holding P-sup's delegation (api/delegation.py).
    actor = "supervisor:P-sup:delegate:P-col"
    view = await case.act(Action.APPROVAL, {"decision": "approve", "on_behalf_of": "P-sup"}, actor=actor)
    assert view.step == Step.AWAITING_CUSTOMER_DECISION
    await case.quiet_view()
    approved = [e for e in fakes.store.events(case.inp.case_id) if e.kind == "approved"]
    assert approved[0].actor == actor
    assert approved[0].payload["tier"] == "supervisor" and approved[0].payload["on_behalf_of"] == "P-sup"
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.wait_for_step(Step.FOLLOW_UP)
    await case.act(Action.SURVEY, {"csat": 5, "nps": 10})
    await case.handle.result()
    await record_history(case.handle, "delegated_approval")


async def to_outbound_in_transit(
    fakes: Fakes, carrier: str = "SIM Express", tracking_no: str = "SIM-OUT"
) -> CaseDriver:
    """A resend case whose merchant has shipped the missing part: it waits for the carrier."""
    case = await start(fakes, issue_type="resend", reason="missing_item")
    await to_customer_decision(case, {"resolution": "resend"})
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.wait_for_step(Step.RESENDING)
    view = await case.act(Action.REPLACEMENT_SHIPMENT, {"carrier": carrier, "tracking_no": tracking_no})
    assert view.outbound_tracking_no == tracking_no
    await case.wait_for_step(Step.OUTBOUND_IN_TRANSIT)
    return case


async def test_a_resend_is_confirmed_delivered_by_the_carrier_then_follow_up(fakes: Fakes) -> None:
    case = await to_outbound_in_transit(fakes)
    await scan(case, "pickup", tracking_no="SIM-OUT")
    await scan(case, "pickup", tracking_no="NOT-OURS")
    await case.quiet_view()
    # A scan on the way restarts the 15 days: 10 days, a scan, 10 more days and it is not lost.
    await fakes.env.sleep(timedelta(days=10))
    await scan(case, "in_transit", tracking_no="SIM-OUT")
    await case.quiet_view()
    await fakes.env.sleep(timedelta(days=10))
    view = await case.quiet_view()
    assert view.step == Step.OUTBOUND_IN_TRANSIT and "outbound_parcel_lost" not in view.reason_codes

    await scan(case, "delivered", tracking_no="SIM-OUT")
    view = await case.wait_for_step(Step.FOLLOW_UP)
    await case.quiet_view()
    delivered = [e for e in fakes.store.events(case.inp.case_id) if e.kind == "outbound_delivered"]
    assert len(delivered) == 1
    assert delivered[0].actor == "carrier:sim" and delivered[0].payload["source"] == "carrier"
    sent = fakes.store.sent(case.inp.case_id)
    assert sent.count(("customer", "outbound_delivered")) == 1
    assert sent.index(("customer", "outbound_delivered")) < sent.index(("customer", "survey"))
    stored = fakes.store.kinds(case.inp.case_id)
    assert "carrier_scan_ignored" in stored and "parcel_lost" not in stored
    assert not fakes.provider.attempts("open_carrier_claim") and not refunds(fakes)
    await case.act(Action.SURVEY, {"csat": 5, "nps": 9})
    await case.handle.result()
    await record_history(case.handle, "resend_delivered_by_carrier_then_follow_up")


async def test_an_outbound_parcel_with_no_scan_within_the_limit_escalates_once_nothing_paid_twice(
    fakes: Fakes,
) -> None:
    case = await to_outbound_in_transit(fakes)
    await scan(case, "pickup", tracking_no="SIM-OUT")
    await case.quiet_view()
    await fakes.past(case, Step.OUTBOUND_IN_TRANSIT)  # no scan for 15 days: lost
    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    await case.quiet_view()
    assert view.liability == Liability.LOGISTICS and "outbound_parcel_lost" in view.reason_codes
    assert not refunds(fakes), "nothing is paid on the loss itself"
    claims = fakes.provider.attempts("open_carrier_claim")
    assert claims and {c.key for c in claims} == {claims[0].key}
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("parcel_lost") == 1 and stored.count("escalated") == 1
    assert "sla_breached" not in stored  # the carrier's lateness, not the merchant's or the platform's
    assert ("customer", "parcel_lost") in fakes.store.sent(case.inp.case_id)
    # A late delivery scan changes nothing now; the team rules a refund, paid once.
    await scan(case, "delivered", tracking_no="SIM-OUT")
    await case.act(
        Action.DISPUTE_RULING,
        {"liability": "logistics", "resolution": {"resolution": "refund_only", "refund": money("129.00")}},
    )
    view = await case.wait_for_step(Step.FOLLOW_UP)
    await case.quiet_view()
    assert view.refunded.amount == Decimal("129.00") and len(refunds(fakes)) == 1
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("parcel_lost") == 1 and stored.count("escalated") == 1
    assert len({c.key for c in fakes.provider.attempts("open_carrier_claim")}) == 1
    await case.act(Action.SURVEY, {"csat": 3, "nps": 5})
    await case.handle.result()
    await record_history(case.handle, "outbound_parcel_lost_escalated")


async def test_an_outbound_delivery_confirmed_by_hand_is_audited_as_manual(fakes: Fakes) -> None:
    case = await to_outbound_in_transit(fakes, carrier="Local post", tracking_no="LP1")
    view = await case.act(Action.OUTBOUND_DELIVERED, {}, actor="merchant:M-100:key")
    assert view.step == Step.FOLLOW_UP
    await case.quiet_view()
    delivered = [e for e in fakes.store.events(case.inp.case_id) if e.kind == "outbound_delivered"]
    assert delivered[0].payload["source"] == "manual" and delivered[0].actor == "merchant:M-100:key"
    assert ("customer", "outbound_delivered") in fakes.store.sent(case.inp.case_id)


async def test_without_carrier_scans_the_case_goes_from_shipping_to_follow_up(fakes: Fakes) -> None:
    policy = PLATFORM.model_copy(update={"carrier_scans": False})
    case = await start(fakes, policy=policy, issue_type="resend", reason="missing_item")
    await to_customer_decision(case, {"resolution": "resend"})
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.wait_for_step(Step.RESENDING)
    view = await case.act(Action.REPLACEMENT_SHIPMENT, {"carrier": "SIM Express", "tracking_no": "SIM-OUT"})
    assert view.step in (Step.RESENDING, Step.FOLLOW_UP)
    await case.wait_for_step(Step.FOLLOW_UP)
