"""Every resolution, escalation, dispute, appeal and withdrawal of DESIGN §2, under time skipping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.enums import Action, CloseReason, Step
from domain.models import CaseRequest
from store.models import OrderLineRow
from tests.support.cases import CaseDriver, kettle_request, open_case, record_history

# The whole process, path by path and step by step: ~40 cases through time-skipping servers (~30 s).
# The quick layer keeps the main paths (test_case_workflow.py) and the rules (test_process_rules.py).
pytestmark = pytest.mark.slow


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def proposal(*options: dict[str, Any], liability: str = "merchant") -> dict[str, Any]:
    return {"liability": liability, "options": list(options)}


REFUND_ONLY = {"resolution": "refund_only", "refund": money("129.00")}
PARTIAL = {"resolution": "partial_refund", "refund": money("30.00")}


@pytest.fixture
def start(ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]) -> Any:
    async def start_case(**overrides: Any) -> CaseDriver:
        now = await ts_env.get_current_time()
        data = kettle_request(now, **overrides).model_dump(mode="json")
        inp = open_case(sessions, CaseRequest.model_validate(data), now)
        return await CaseDriver(ts_env.client, inp, worker.task_queue).start()

    return start_case


async def to_proposal(case: CaseDriver) -> None:
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})


async def ledger(simulator_url: str, case_id: str, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=simulator_url) as client:
        response = await client.get("/v1/ledger", params={"case_id": case_id, "kind": kind})
    return list(response.json()["entries"])


async def survey_and_close(case: CaseDriver, step: Step = Step.FOLLOW_UP) -> None:
    await case.wait_for_step(step)
    await case.act(Action.SURVEY, {"csat": 4, "nps": 8})


async def test_refund_only_pays_once_without_a_return(start: Any, simulator_url: str) -> None:
    case = await start(reason="missing_item", issue_type="refund_only")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal(REFUND_ONLY))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await survey_and_close(case)
    assert len(await ledger(simulator_url, case.inp.case_id, "refund")) == 1
    assert len(await ledger(simulator_url, case.inp.case_id, "return_label")) == 0


async def test_partial_refund_with_compensation_keeps_the_item(start: Any, simulator_url: str) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({**PARTIAL, "compensation": money("10.00")}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await survey_and_close(case)
    view = await case.view()
    assert (
        view.refunded.amount == Decimal("30.00")
        and view.compensated
        and view.compensated.amount == Decimal("10.00")
    )
    assert len(await ledger(simulator_url, case.inp.case_id, "credit")) == 1


async def test_exchange_returns_the_item_then_ships_a_replacement(start: Any, simulator_url: str) -> None:
    case = await start(issue_type="exchange")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "exchange"}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-OUT"})
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    await case.wait_for_step(Step.SHIPPING_REPLACEMENT)
    view = await case.act(Action.REPLACEMENT_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-NEW"})
    assert view.outbound_tracking_no == "SF-NEW"
    await survey_and_close(case)
    assert await ledger(simulator_url, case.inp.case_id, "refund") == []


async def test_repair_returns_repairs_and_ships_back(start: Any) -> None:
    case = await start(issue_type="repair")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "repair"}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-R"})
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    await case.wait_for_step(Step.REPAIRING)
    await case.act(Action.REPLACEMENT_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-BACK"})
    await survey_and_close(case)
    assert (await case.handle.result()).close_reason == CloseReason.RESOLVED


async def test_resend_sends_the_missing_part(start: Any) -> None:
    case = await start(issue_type="resend", reason="missing_item")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "resend", "note": "lid missing"}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.wait_for_step(Step.RESENDING)
    await case.act(Action.REPLACEMENT_SHIPMENT, {"carrier": "YTO", "tracking_no": "YT-1"})
    await survey_and_close(case)


async def test_a_rejection_waits_for_a_supervisor_and_closes_rejected(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await to_proposal(case)
    view = await case.act(
        Action.PROPOSAL,
        proposal({"resolution": "reject", "note": "used and damaged by the customer"}, liability="customer"),
    )
    assert view.step == Step.AWAITING_APPROVAL
    await case.act(Action.APPROVAL, {"decision": "approve", "comment": "photos are clear"})
    result = await case.handle.result()
    assert result.close_reason == CloseReason.REJECTED
    await record_history(case.handle, "rejected_after_approval")


async def test_a_refund_over_the_threshold_needs_approval_and_a_sent_back_proposal_is_revised(
    start: Any,
) -> None:
    case = await start(price="899.00")
    await to_proposal(case)
    view = await case.act(Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("899.00")}))
    assert view.step == Step.AWAITING_APPROVAL
    view = await case.act(Action.APPROVAL, {"decision": "reject", "comment": "offer a partial refund"})
    assert view.step == Step.LIABILITY_AND_PROPOSAL
    view = await case.act(
        Action.PROPOSAL, proposal({"resolution": "partial_refund", "refund": money("200.00")})
    )
    assert view.step == Step.AWAITING_CUSTOMER_DECISION


async def test_an_unanswered_approval_escalates_one_level_up(start: Any, ts_env: WorkflowEnvironment) -> None:
    case = await start(price="899.00")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("899.00")}))
    await ts_env.sleep(timedelta(days=5))
    view = await case.view()
    kinds = [e.kind for e in view.timeline]
    assert view.step == Step.AWAITING_APPROVAL and view.sla_breached
    assert (
        kinds.count("sla_warning") == 1
        and kinds.count("sla_breached") == 1
        and kinds.count("sla_escalated") == 1
    )


async def test_revise_once_then_accept(start: Any) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal(PARTIAL))
    view = await case.act(Action.CUSTOMER_DECISION, {"decline": True, "reason": "too little"})
    assert view.step == Step.LIABILITY_AND_PROPOSAL
    await case.act(Action.PROPOSAL, proposal(REFUND_ONLY, PARTIAL))
    view = await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    assert view.chosen_option == 0


async def test_declining_twice_goes_to_the_dispute_team_whose_ruling_executes(
    start: Any, simulator_url: str
) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal(PARTIAL))
    await case.act(Action.CUSTOMER_DECISION, {"decline": True, "reason": "no"})
    await case.act(Action.PROPOSAL, proposal(PARTIAL))
    view = await case.act(Action.CUSTOMER_DECISION, {"decline": True, "reason": "still no"})
    assert view.step == Step.DISPUTE_EVIDENCE
    await case.act(
        Action.DISPUTE_RULING,
        {"liability": "merchant", "resolution": REFUND_ONLY, "comment": "merchant fault"},
    )
    await survey_and_close(case)
    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED and result.refunded.amount == Decimal("129.00")
    await record_history(case.handle, "declined_twice_dispute_ruling")


async def test_escalation_from_an_open_step_moves_the_case_to_dispute(start: Any) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    view = await case.act(Action.ESCALATION, {"reason": "merchant objects to the claim"})
    assert view.step == Step.DISPUTE_EVIDENCE
    with pytest.raises(WorkflowUpdateFailedError):
        await case.act(Action.ESCALATION, {"reason": "again"})


async def test_withdrawal_before_money_moves_closes_withdrawn_and_after_is_refused(start: Any) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    view = await case.act(Action.WITHDRAWAL, {"reason": "found the part"})
    assert view.step == Step.CLOSED and view.close_reason == CloseReason.WITHDRAWN

    paid = await start()
    await to_proposal(paid)
    await paid.act(Action.PROPOSAL, proposal(REFUND_ONLY))
    await paid.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await paid.wait_for_step(Step.FOLLOW_UP)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await paid.act(Action.WITHDRAWAL, {"reason": "too late"})
    assert "money has already moved" in str(refused.value.cause)


async def test_missing_information_is_asked_once_and_silence_expires_the_case(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start(evidence=[], description="")
    await case.wait_for_step(Step.AWAITING_CUSTOMER_INFO)
    view = await case.view_when(
        lambda v: any(e.kind == "info_requested" for e in v.timeline), "asked for information"
    )
    asked = [e for e in view.timeline if e.kind == "info_requested"]
    assert len(asked) == 1 and "description" in asked[0].summary and "evidence" in asked[0].summary
    await ts_env.sleep(timedelta(hours=73))
    result = await case.handle.result()
    assert result.close_reason == CloseReason.EXPIRED


async def test_the_customer_answer_resumes_the_case(start: Any) -> None:
    case = await start(evidence=[])
    await case.wait_for_step(Step.AWAITING_CUSTOMER_INFO)
    view = await case.act(
        Action.CUSTOMER_INFO, {"evidence": [{"kind": "image", "url": "https://cdn.example.com/2.jpg"}]}
    )
    assert view.step in (Step.PRELIMINARY_REVIEW, Step.MERCHANT_VERIFICATION)
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)


async def test_out_of_window_claims_are_rejected_through_approval(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    now = await ts_env.get_current_time()
    case = await start(
        reason="changed_mind",
        order={
            **kettle_request(now).model_dump(mode="json")["order"],
            "paid_at": (now - timedelta(days=40)).isoformat(),
            "delivered_at": (now - timedelta(days=30)).isoformat(),
        },
    )
    view = await case.wait_for_step(Step.AWAITING_APPROVAL)
    assert view.options[0].resolution == "reject" and "window" in view.options[0].note
    await case.act(Action.APPROVAL, {"decision": "approve", "comment": "window passed"})
    assert (await case.handle.result()).close_reason == CloseReason.REJECTED


async def test_a_closed_case_can_be_appealed_within_the_window(start: Any) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(
        Action.PROPOSAL, proposal({"resolution": "reject", "note": "not covered"}, liability="customer")
    )
    view = await case.act(Action.APPROVAL, {"decision": "approve"})
    await case.wait_for_step(Step.CLOSED)
    view = await case.act(Action.APPEAL, {"reason": "the defect was there on arrival"})
    assert view.step == Step.DISPUTE_EVIDENCE and view.appealed
    await case.act(Action.DISPUTE_RULING, {"liability": "merchant", "resolution": PARTIAL})
    await survey_and_close(case)
    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED and result.refunded.amount == Decimal("30.00")
    await record_history(case.handle, "rejected_then_appealed")


# What each step takes besides notes, escalation and withdrawal (whose own rules are checked below).
TAKES: dict[Step, set[Action]] = {
    Step.MERCHANT_VERIFICATION: {Action.MERCHANT_RESPONSE},
    Step.LIABILITY_AND_PROPOSAL: {Action.PROPOSAL},
    Step.AWAITING_APPROVAL: {Action.APPROVAL},
    Step.AWAITING_CUSTOMER_DECISION: {Action.CUSTOMER_DECISION},
    Step.DISPUTE_EVIDENCE: {Action.DISPUTE_EVIDENCE, Action.DISPUTE_RULING},
    Step.AWAITING_RETURN_SHIPMENT: {Action.RETURN_SHIPMENT},
    Step.RETURN_IN_TRANSIT: {Action.RETURN_DELIVERED},
    Step.AWAITING_INSPECTION: {Action.INSPECTION},
    Step.SHIPPING_REPLACEMENT: {Action.REPLACEMENT_SHIPMENT},
    Step.FOLLOW_UP: {Action.SURVEY, Action.SECOND_REMEDY},
    Step.CLOSED: {Action.APPEAL},
}


async def walk_to(start: Any, step: Step) -> CaseDriver:
    """A case at `step`, reached the shortest way."""
    case = await start(price="899.00") if step == Step.AWAITING_APPROVAL else await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    if step == Step.MERCHANT_VERIFICATION:
        return case
    if step == Step.DISPUTE_EVIDENCE:
        await case.act(Action.ESCALATION, {"reason": "needs a ruling"})
        return case
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    options: dict[Step, dict[str, Any]] = {
        Step.AWAITING_APPROVAL: {"resolution": "refund_only", "refund": money("899.00")},
        Step.AWAITING_CUSTOMER_DECISION: PARTIAL,
        Step.FOLLOW_UP: REFUND_ONLY,
        Step.CLOSED: {"resolution": "reject", "note": "outside the warranty"},
    }
    if step != Step.LIABILITY_AND_PROPOSAL:
        await case.act(Action.PROPOSAL, proposal(options.get(step, {"resolution": "exchange"})))
    if step == Step.CLOSED:
        await case.act(Action.APPROVAL, {"decision": "approve"})
    elif step not in (Step.LIABILITY_AND_PROPOSAL, Step.AWAITING_APPROVAL, Step.AWAITING_CUSTOMER_DECISION):
        await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    shipping = [
        (Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-T"}),
        (Action.RETURN_DELIVERED, {}),
        (Action.INSPECTION, {"passed": True}),
    ]
    order = [
        Step.AWAITING_RETURN_SHIPMENT,
        Step.RETURN_IN_TRANSIT,
        Step.AWAITING_INSPECTION,
        Step.SHIPPING_REPLACEMENT,
    ]
    if step in order:
        for action, payload in shipping[: order.index(step)]:
            await case.act(action, payload)
    await case.wait_for_step(step)
    return case


@pytest.mark.parametrize("step", list(TAKES), ids=str)
async def test_every_action_a_step_does_not_take_is_refused_and_changes_nothing(
    start: Any, step: Step
) -> None:
    from tests.test_api_roles import SAMPLES

    case = await walk_to(start, step)
    before = await case.quiet_view()
    money_moved = before.refunded.amount > 0
    allowed = set(TAKES[step])
    if step != Step.CLOSED:
        allowed |= {Action.NOTES, Action.CLAIM, Action.ASSIGN, Action.RELEASE}  # who works it: any open step
        if not money_moved:
            allowed.add(Action.WITHDRAWAL)
        if step != Step.DISPUTE_EVIDENCE and (not money_moved or step == Step.SHIPPING_REPLACEMENT):
            allowed.add(Action.ESCALATION)
    refused = [action for action in Action if action not in allowed]
    for action in refused:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await case.act(action, SAMPLES[action])
        assert getattr(err.value.cause, "type", None) in ("WrongStep", "CaseClosed"), (step, action)
    after = await case.quiet_view()
    assert (after.step, after.timeline, after.options, after.refunded) == (
        before.step,
        before.timeline,
        before.options,
        before.refunded,
    ), step


async def test_a_refund_the_ledger_refuses_escalates_instead_of_failing_the_case(
    start: Any, simulator_url: str, sessions: sessionmaker[Session]
) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.ESCALATION, {"reason": "customer asks for more than paid"})
    # Another system refunded part of the line behind the case's back: the ledger knows, the case not.
    set_line_refunded(sessions, case.inp.request.order.order_id, "L1", Decimal("100.00"))
    await case.act(Action.DISPUTE_RULING, {"liability": "merchant", "resolution": REFUND_ONLY})
    # 129.00 > the 29.00 left on the line: refused by the ledger, back to the team
    await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    await case.view_when(lambda v: any(e.kind == "refund_failed" for e in v.timeline), "refund_failed")
    set_line_refunded(sessions, case.inp.request.order.order_id, "L1", Decimal("0.00"))
    await case.act(Action.DISPUTE_RULING, {"liability": "merchant", "resolution": REFUND_ONLY})
    await survey_and_close(case)
    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED and result.refunded.amount == Decimal("129.00")
    assert len(await ledger(simulator_url, case.inp.case_id, "refund")) == 1


def set_line_refunded(sessions: sessionmaker[Session], order_id: str, line_id: str, amount: Decimal) -> None:
    with sessions.begin() as session:
        row = session.get(OrderLineRow, (order_id, line_id))
        assert row is not None
        row.refunded_amount = amount


async def test_a_low_value_order_from_a_good_customer_is_refunded_on_the_return_scan(
    start: Any, simulator_url: str
) -> None:
    case = await start(price="59.00", customer_standing="good")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "return_and_refund", "refund": money("59.00")}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-SCAN"})
    view = await case.wait_for_step(Step.RETURN_IN_TRANSIT)
    assert view.refunded.amount == Decimal("59.00") and "refund_on_return_scan" in view.reason_codes
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert len(await ledger(simulator_url, case.inp.case_id, "refund")) == 1
    view = await case.view_when(lambda v: v.callback_at is not None, "with a callback time")
    assert view.callback_at is not None and view.callback_at.astimezone(view.callback_at.tzinfo).hour == 9


async def test_a_failed_inspection_goes_to_the_dispute_team_before_any_refund(
    start: Any, simulator_url: str
) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "return_and_refund", "refund": money("129.00")}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-BAD"})
    await case.act(Action.RETURN_DELIVERED, {})
    view = await case.act(Action.INSPECTION, {"passed": False, "note": "water damage, not a defect"})
    assert view.step == Step.DISPUTE_EVIDENCE
    assert await ledger(simulator_url, case.inp.case_id, "refund") == []


async def test_ops_act_by_signal_and_a_signal_at_the_wrong_step_is_recorded_and_ignored(start: Any) -> None:
    case = await start(price="899.00")
    await to_proposal(case)
    await case.handle.signal("approval", {"decision": "approve", "actor": "supervisor:ops-ui"})  # wrong step
    await case.act(Action.PROPOSAL, proposal({"resolution": "refund_only", "refund": money("899.00")}))
    await case.wait_for_step(Step.AWAITING_APPROVAL)
    await case.handle.signal("approval", {"decision": "approve", "comment": "ok", "actor": "supervisor:li"})
    view = await case.wait_for_step(Step.AWAITING_CUSTOMER_DECISION)
    ignored = [e for e in view.timeline if e.kind == "signal_ignored"]
    assert len(ignored) == 1 and ignored[0].actor == "supervisor:ops-ui"
    assert any(e.kind == "approved" and e.actor == "supervisor:li" for e in view.timeline)


async def test_a_signal_that_is_not_an_action_or_not_an_object_is_recorded_and_the_case_goes_on(
    start: Any,
) -> None:
    """Signals come from the Temporal UI and the CLI, typed by hand: nothing sent there may fail a case."""
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.handle.signal("merchant_response", ["not", "an", "object"])
    await case.handle.signal("no_such_action", {"actor": "ops:ui"})
    view = await case.view_when(
        lambda v: sum(e.kind == "signal_ignored" for e in v.timeline) == 2, "two signals ignored"
    )
    assert view.step == Step.MERCHANT_VERIFICATION
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    assert (await case.wait_for_step(Step.LIABILITY_AND_PROPOSAL)).step == Step.LIABILITY_AND_PROPOSAL


# ---------------------------------------------------------------- dispute evidence and auto-judgment

EVIDENCE = [{"kind": "image", "url": "https://cdn.example.com/e/dispute.jpg"}]


async def skip_until(ts_env: WorkflowEnvironment, case: CaseDriver, *steps: Step, days: int = 45) -> Any:
    """Let time pass a day at a time (holidays stretch working-hour limits) until the case is at a step."""
    for _ in range(days):
        view = await case.view()
        if view.step in steps:
            return view
        await ts_env.sleep(timedelta(days=1))
    raise AssertionError(f"case stayed at {view.step}, expected one of {steps}")


def evidence(party: str) -> dict[str, Any]:
    return {"party": party, "statement": f"{party}'s side of the story", "evidence": EVIDENCE}


async def test_merchant_gives_no_evidence_by_the_dispute_deadline_so_the_customer_wins_and_is_refunded_once(
    start: Any, ts_env: WorkflowEnvironment, simulator_url: str
) -> None:
    case = await start(reason="missing_item", issue_type="refund_only")
    await to_proposal(case)
    view = await case.act(Action.ESCALATION, {"reason": "customer insists on a full refund"})
    assert view.step == Step.DISPUTE_EVIDENCE
    await case.act(Action.DISPUTE_EVIDENCE, evidence("customer"))
    await skip_until(ts_env, case, Step.FOLLOW_UP)  # 48 working hours pass without the merchant's evidence
    await survey_and_close(case)
    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED and result.refunded.amount == Decimal("129.00")
    assert "dispute_merchant_missed_evidence_deadline" in result.reason_codes
    assert any(e.kind == "auto_judged" for e in result.timeline)
    assert len(await ledger(simulator_url, case.inp.case_id, "refund")) == 1
    await record_history(case.handle, "dispute_auto_judged_for_customer")


async def test_customer_gives_no_evidence_by_the_dispute_deadline_so_the_case_closes_rejected(
    start: Any, ts_env: WorkflowEnvironment, simulator_url: str
) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.ESCALATION, {"reason": "merchant says the kettle was dropped"}, actor="merchant")
    await case.act(Action.DISPUTE_EVIDENCE, evidence("merchant"))
    view = await skip_until(ts_env, case, Step.CLOSED)
    assert view.close_reason == CloseReason.REJECTED and view.liability == "customer"
    assert "dispute_customer_missed_evidence_deadline" in view.reason_codes
    assert await ledger(simulator_url, case.inp.case_id, "refund") == []


async def test_when_both_parties_give_evidence_the_dispute_team_rules(start: Any) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(Action.ESCALATION, {"reason": "agent needs a ruling"})
    await case.act(Action.DISPUTE_EVIDENCE, evidence("customer"))
    view = await case.act(Action.DISPUTE_EVIDENCE, evidence("merchant"))
    assert view.step == Step.DISPUTE
    view = await case.act(
        Action.DISPUTE_RULING,
        {"liability": "merchant", "resolution": PARTIAL, "comment": "both partly right"},
    )
    assert view.options[0].resolution == "partial_refund"


async def test_when_neither_party_gives_evidence_the_team_rules_after_the_deadline(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await to_proposal(case)
    await case.act(Action.ESCALATION, {"reason": "agent needs a ruling"})
    view = await skip_until(ts_env, case, Step.DISPUTE)
    assert not any(e.kind == "auto_judged" for e in view.timeline)
    assert any(e.kind == "dispute_evidence_closed" for e in view.timeline)


async def test_a_merchant_gives_dispute_evidence_only_during_the_evidence_window(start: Any) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    with pytest.raises(WorkflowUpdateFailedError):
        await case.act(Action.DISPUTE_EVIDENCE, evidence("merchant"))


# ---------------------------------------------------------------- a remedy that never arrives


async def test_a_replacement_that_never_ships_goes_to_the_dispute_team_whose_refund_is_paid_once(
    start: Any, ts_env: WorkflowEnvironment, simulator_url: str
) -> None:
    case = await start(issue_type="exchange")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "exchange", "note": "new kettle"}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-EX"})
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    await case.wait_for_step(Step.SHIPPING_REPLACEMENT)
    # 125 % of the 48 working-hour limit passes: the dispute team (whichever of its steps) decides.
    view = await skip_until(ts_env, case, Step.DISPUTE_EVIDENCE, Step.DISPUTE)
    kinds = [e.kind for e in view.timeline]
    assert "undelivered" in kinds and kinds.count("sla_breached") >= 1
    await case.act(
        Action.DISPUTE_RULING,
        {"liability": "merchant", "resolution": REFUND_ONLY, "comment": "no replacement: refund"},
    )
    await survey_and_close(case)
    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED and result.refunded.amount == Decimal("129.00")
    assert len(await ledger(simulator_url, case.inp.case_id, "refund")) == 1
    await record_history(case.handle, "replacement_never_shipped_refunded")


async def test_the_merchant_can_say_a_replacement_cannot_ship_even_after_money_moved(start: Any) -> None:
    case = await start(issue_type="exchange")
    await to_proposal(case)
    await case.act(Action.PROPOSAL, proposal({"resolution": "exchange"}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-EX2"})
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    await case.wait_for_step(Step.SHIPPING_REPLACEMENT)
    view = await case.act(Action.ESCALATION, {"reason": "model sold out"}, actor="merchant")
    assert view.step == Step.DISPUTE_EVIDENCE


# ---------------------------------------------------------------- the platform's own clock


def platform_clock(view: Any) -> Any:
    return next(c for c in view.sla if c.clock == "platform")


async def test_the_platform_clock_pauses_while_the_customer_decides_and_runs_while_the_agent_works(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await to_proposal(case)
    view = await case.act(Action.PROPOSAL, proposal(PARTIAL))
    assert view.step == Step.AWAITING_CUSTOMER_DECISION
    waiting = platform_clock(view)
    assert waiting.frozen_since is not None and "platform" not in view.deadlines
    await ts_env.sleep(timedelta(hours=48))  # the customer takes two days
    view = await case.view()
    assert platform_clock(view).used == waiting.used
    view = await case.act(Action.CUSTOMER_DECISION, {"decline": True, "reason": "too little"})
    assert view.step == Step.LIABILITY_AND_PROPOSAL
    running = platform_clock(view)
    assert running.frozen_since is None and running.used == waiting.used and "platform" in view.deadlines
    assert running.paused[-1].end - running.paused[-1].start >= timedelta(hours=48)


async def test_a_case_the_platform_sits_on_breaches_the_platform_limit_once(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await to_proposal(case)  # the agent then never proposes: the proposal step only escalates
    await ts_env.sleep(timedelta(days=30))
    view = await case.view()
    platform = platform_clock(view)
    assert view.step == Step.LIABILITY_AND_PROPOSAL and view.sla_breached
    assert platform.breached_at is not None and platform.late_by is not None
    assert platform.rungs_fired == ["warn", "breach", "escalate"]
    breaches = [e for e in view.timeline if e.kind == "sla_breached" and "platform" in e.summary]
    assert len(breaches) == 1
