"""The case workflow's awkward branches, fast: the real workflow, same-name fake activities.

End to end (test_case_workflow.py, test_process.py) a provider that refuses, fails a few times or
is down, a store write whose answer is lost, or a limit that runs out at every step, is slow or
impossible to arrange. Here the worker registers the fakes of tests/support/fakes.py under the real
activity names (the samples-python pattern), so each branch is one scenario on a time-skipping
server: no database, no HTTP, a few hundred milliseconds each. The assertions read the case view
(query "case") and the deltas the fake store received (events, view fields, outbox messages).

Limits are real (the policy's hours on the default calendars); the tests skip time to just past the
deadline the case itself publishes, so they hold whatever the date and the public holidays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, get_args

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as act
from api.ids import new_case_id
from domain import names
from domain.enums import Action, CloseReason, Step
from domain.models import CaseInput, CaseView
from domain.policy import DEFAULT_LIMITS, CasePolicy
from domain.sla import Rung, SlaClock
from domain.steps import STEP_TABLE, BreachAction
from tests.support.cases import CaseDriver, kettle_request, terminate_started
from tests.support.fakes import FakeCalendars, FakeProvider, FakeStore
from workers.build import WORKFLOWS
from workers.sandbox import case_workflow_runner
from workflows.search_attributes import SLA_BREACHED


@dataclass
class Fakes:
    """What the worker runs instead of the real activities, and the time-skipping server it runs on."""

    env: WorkflowEnvironment
    task_queue: str
    store: FakeStore
    provider: FakeProvider
    calendars: FakeCalendars

    async def start(self, policy: CasePolicy | None = None, **request: Any) -> CaseDriver:
        """Start a case directly (no store row: the fake store needs none)."""
        now = await self.env.get_current_time()
        inp = CaseInput(
            case_id=new_case_id(now),
            request=kettle_request(now, **request),
            received_at=now,
            policy=policy or CasePolicy(),
        )
        return await CaseDriver(self.env.client, inp, self.task_queue).start()

    async def past(self, case: CaseDriver, step: Step, rung: Rung = "breach") -> None:
        """Skip time to a minute past a rung of `step`'s clock (its limit by default), computed
        from the case's own clock and the calendar snapshot the case was given."""
        await case.wait_for_step(step)
        clocks = await case.handle.query(names.QUERY_CLOCKS, result_type=dict[str, SlaClock])
        clock = clocks[str(step)]
        at = clock.rung_time(self.calendars.snapshots.get(clock.limit.calendar), rung)
        assert at is not None, f"{step} clock is paused"
        await self.env.sleep(at - await self.env.get_current_time() + timedelta(minutes=1))


@pytest.fixture
async def fakes(ts_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Fakes]:
    made = Fakes(ts_env, task_queue, FakeStore(), FakeProvider(), FakeCalendars())
    activities: list[Callable[..., Any]] = [
        made.store.record_case_delta,
        made.store.pick_assignee,
        made.calendars.load_calendars,
        made.provider.execute_refund,
        made.provider.create_return_label,
        made.provider.issue_credit,
        made.provider.open_carrier_claim,
        made.provider.send_notification,
    ]
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=case_workflow_runner(),
        activities=activities,
    ):
        yield made
        await terminate_started()
    assert not made.store.problems, "every store write of every case is in order and idempotent"


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def proposal(*options: dict[str, Any], liability: str = "merchant") -> dict[str, Any]:
    return {"liability": liability, "options": list(options)}


REFUND_ONLY = {"resolution": "refund_only", "refund": money("129.00")}
RETURN_AND_REFUND = {"resolution": "return_and_refund", "refund": money("129.00")}
EVIDENCE = [{"kind": "image", "url": "https://cdn.example.com/e/2.jpg"}]


def kinds(view: CaseView) -> list[str]:
    return [entry.kind for entry in view.timeline]


async def to_customer_decision(case: CaseDriver, option: dict[str, Any]) -> None:
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, proposal(option))


async def to_refund(case: CaseDriver) -> None:
    """Merchant agrees, the agent offers a full refund, the customer takes it: the refund starts."""
    await to_customer_decision(case, REFUND_ONLY)
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})


async def to_return_in_transit(case: CaseDriver) -> None:
    await to_customer_decision(case, RETURN_AND_REFUND)
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF Express", "tracking_no": "SF1"})


def is_running(status: WorkflowExecutionStatus | None) -> bool:
    return status == WorkflowExecutionStatus.RUNNING


# ---------------------------------------------------------------------------- provider calls


async def test_provider_refuses_the_refund_so_the_dispute_team_decides_and_the_case_never_fails(
    fakes: Fakes,
) -> None:
    fakes.provider.refuse_refunds = {1}
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await to_refund(case)

    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert "refund_failed" in kinds(view) and "escalated" in kinds(view)
    assert view.refunded.amount == 0
    assert is_running((await case.handle.describe()).status)
    refusal = fakes.provider.attempts(act.EXECUTE_REFUND)
    assert [(c.is_local, c.attempt) for c in refusal] == [(True, 1)], "a refusal is final at once"
    await case.quiet_view()
    assert ("supervisor", "refund_failed") in fakes.store.sent(case.inp.case_id)

    # The team rules a refund again: a new decision (seq 2), which the provider pays.
    await case.act(Action.DISPUTE_RULING, {"liability": "merchant", "resolution": REFUND_ONLY})
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.refunded.amount == Decimal("129.00")
    assert list(fakes.provider.paid) == [f"{case.inp.case_id}-refund-2"]
    assert not fakes.store.problems


async def test_provider_fails_transiently_then_the_refund_is_paid_once_and_the_case_goes_on(
    fakes: Fakes,
) -> None:
    fakes.provider.refund_outages = 4  # three local attempts, then one durable attempt fail
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await to_refund(case)

    view = await case.view_when(lambda v: v.step == Step.FOLLOW_UP, "refund paid after the outage")
    attempts = [(c.is_local, c.attempt) for c in fakes.provider.attempts(act.EXECUTE_REFUND)]
    assert attempts == [(True, 1), (True, 2), (True, 3), (False, 1), (False, 2)]
    assert len({c.key for c in fakes.provider.attempts(act.EXECUTE_REFUND)}) == 1, "one key throughout"
    assert len(fakes.provider.paid) == 1
    assert view.refunded.amount == Decimal("129.00")
    assert "refund_failed" not in kinds(view)
    await case.quiet_view()
    assert kinds(view).count("refunded") == 1 and fakes.store.kinds(case.inp.case_id).count("refunded") == 1
    assert ("customer", "refunded") in fakes.store.sent(case.inp.case_id)
    assert not fakes.store.problems


# ---------------------------------------------------------------------------- the store's outbox


async def test_a_notification_outage_cannot_stop_a_case_its_messages_wait_in_the_store_outbox(
    fakes: Fakes,
) -> None:
    fakes.provider.notifications_down = True
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await to_refund(case)
    await case.wait_for_step(Step.FOLLOW_UP)
    await case.act(Action.SURVEY, {"csat": 5, "nps": 9})

    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED
    assert fakes.provider.attempts(act.SEND_NOTIFICATION) == [], "the case never calls the gateway"
    case_id = case.inp.case_id
    queued = fakes.store.notifications(case_id)
    assert fakes.store.sent(case_id) == [
        ("merchant", "verify_claim"),
        ("customer", "proposal"),
        ("customer", "refunded"),
        ("customer", "survey"),
        ("agent", "callback"),
    ]
    keys = [m.idempotency_key for m in queued]
    assert len(set(keys)) == len(keys) and all(k.startswith(case_id) for k in keys)
    assert fakes.store.view(case_id)["close_reason"] == "resolved"
    assert not fakes.store.problems


async def test_each_store_write_carries_only_the_view_fields_that_changed_and_they_add_up_to_the_view(
    fakes: Fakes,
) -> None:
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await to_refund(case)
    await case.wait_for_step(Step.FOLLOW_UP)
    await case.act(Action.SURVEY, {"csat": 5, "nps": 9})
    final = await case.handle.result()

    deltas = fakes.store.deltas[case.inp.case_id]
    whole = final.model_dump(mode="json", exclude={"timeline"})
    assert set(deltas[0].view) == set(whole), "the first write carries the whole view"
    merged: dict[str, Any] = {}
    for delta in deltas:
        assert all(merged.get(name, object()) != value for name, value in delta.view.items()), (
            f"v{delta.version} resent a field the store already had"
        )
        merged.update(delta.view)
    assert merged == whole
    assert [d.view.get("step") for d in deltas if "step" in d.view][-1] == "closed"


async def test_a_store_write_whose_answer_was_lost_is_retried_as_the_same_version_and_queues_messages_once(
    fakes: Fakes,
) -> None:
    fakes.store.lose_answer_of = {1}  # the first write (intake, and the merchant's message)
    case = await fakes.start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.quiet_view()

    case_id = case.inp.case_id
    assert fakes.store.attempts[(case_id, 1)] == 2
    assert [d.version for d in fakes.store.deltas[case_id]] == list(
        range(1, len(fakes.store.deltas[case_id]) + 1)
    )
    assert fakes.store.sent(case_id).count(("merchant", "verify_claim")) == 1
    assert fakes.store.kinds(case_id).count("intake") == 1
    assert fakes.store.view(case_id)["step"] == "liability_and_proposal"
    assert not fakes.store.problems


# ---------------------------------------------------------------------------- every breach action

# (step, breach action) driven by the tests below; the last test checks the step table allows each
# one and that every breach action appears at least once.
COVERED: set[tuple[Step, BreachAction]] = {
    (Step.MERCHANT_VERIFICATION, "auto_accept"),
    (Step.MERCHANT_VERIFICATION, "escalate"),
    (Step.MERCHANT_VERIFICATION, "to_dispute"),
    (Step.AWAITING_INSPECTION, "auto_pass"),
    (Step.AWAITING_INSPECTION, "to_dispute"),
    (Step.AWAITING_CUSTOMER_DECISION, "accept_first_option"),
    (Step.AWAITING_CUSTOMER_INFO, "auto_close"),
    (Step.AWAITING_RETURN_SHIPMENT, "auto_close"),
    (Step.FOLLOW_UP, "auto_close"),
    (Step.DISPUTE_EVIDENCE, "auto_judge"),
    (Step.RETURN_IN_TRANSIT, "to_dispute"),
    (Step.LIABILITY_AND_PROPOSAL, "escalate"),
    (Step.RESENDING, "escalate"),
    (Step.RETURN_IN_TRANSIT, "lost_parcel"),  # tests/test_policy_workflow.py
}


def policy_with(step: Step, action: BreachAction) -> CasePolicy:
    """The default policy, with `step`'s limit taking `action` when it runs out."""
    if step == Step.MERCHANT_VERIFICATION:
        return CasePolicy(merchant_timeout_action=action)
    limits = dict(DEFAULT_LIMITS)
    limits[step] = limits[step].model_copy(update={"on_breach": action})
    return CasePolicy(limits=limits)


async def breached_attribute(case: CaseDriver) -> bool | None:
    return (await case.handle.describe()).typed_search_attributes.get(SLA_BREACHED)


async def test_merchant_silent_for_24_working_hours_auto_accepts_the_claim_with_a_breach(
    fakes: Fakes,
) -> None:
    case = await fakes.start(policy=policy_with(Step.MERCHANT_VERIFICATION, "auto_accept"))
    await fakes.past(case, Step.MERCHANT_VERIFICATION)

    view = await case.wait_for_step(Step.LIABILITY_AND_PROPOSAL)
    assert view.sla_breached and "merchant_timeout_auto_accept" in view.reason_codes
    await case.quiet_view()
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("sla_warning") == 1 and stored.count("sla_breached") == 1
    assert stored.count("auto_accepted") == 1
    assert ("merchant", "sla_warning") in fakes.store.sent(case.inp.case_id)
    assert fakes.store.view(case.inp.case_id)["sla_breached"] is True
    assert await breached_attribute(case) is True


async def test_merchant_silent_under_an_escalate_policy_is_breached_once_keeps_waiting_then_goes_to_dispute(
    fakes: Fakes,
) -> None:
    case = await fakes.start(policy=policy_with(Step.MERCHANT_VERIFICATION, "escalate"))
    await fakes.past(case, Step.MERCHANT_VERIFICATION)

    view = await case.quiet_view()
    assert view.step == Step.MERCHANT_VERIFICATION and view.sla_breached, "breached, still waiting"
    assert ("supervisor", "sla_breached") in fakes.store.sent(case.inp.case_id)
    assert await breached_attribute(case) is True

    await fakes.past(case, Step.MERCHANT_VERIFICATION, "escalate")  # 125 %: the team decides
    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    await case.quiet_view()
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("sla_breached") == 1 and stored.count("sla_escalated") == 1
    assert stored.count("merchant_overdue") == 1 and "escalated" in stored
    assert ("supervisor_manager", "sla_escalated") in fakes.store.sent(case.inp.case_id)
    assert ("dispute", "dispute_opened") in fakes.store.sent(case.inp.case_id)


async def test_merchant_silent_under_a_to_dispute_policy_goes_to_the_dispute_team_at_the_limit(
    fakes: Fakes,
) -> None:
    case = await fakes.start(policy=policy_with(Step.MERCHANT_VERIFICATION, "to_dispute"))
    await fakes.past(case, Step.MERCHANT_VERIFICATION)

    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert view.sla_breached and "auto_accepted" not in kinds(view)
    await case.quiet_view()
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("sla_breached") == 1 and "escalated" in stored
    assert "sla_escalated" not in stored
    sent = fakes.store.sent(case.inp.case_id)
    assert ("customer", "dispute_evidence") in sent and ("merchant", "dispute_evidence") in sent


async def test_merchant_silent_on_the_returned_item_passes_the_inspection_and_the_refund_is_paid_once(
    fakes: Fakes,
) -> None:
    case = await fakes.start(policy=policy_with(Step.AWAITING_INSPECTION, "auto_pass"))
    await to_return_in_transit(case)
    await case.act(Action.RETURN_DELIVERED, {})
    await fakes.past(case, Step.AWAITING_INSPECTION)

    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert "inspection_timeout_auto_pass" in view.reason_codes and view.sla_breached
    assert view.refunded.amount == Decimal("129.00") and len(fakes.provider.paid) == 1
    await case.quiet_view()
    assert fakes.store.kinds(case.inp.case_id).count("auto_passed") == 1
    assert len(fakes.provider.attempts(act.CREATE_RETURN_LABEL)) == 1


async def test_merchant_silent_on_the_returned_item_under_a_to_dispute_policy_goes_to_the_dispute_team(
    fakes: Fakes,
) -> None:
    case = await fakes.start(policy=policy_with(Step.AWAITING_INSPECTION, "to_dispute"))
    await to_return_in_transit(case)
    await case.act(Action.RETURN_DELIVERED, {})
    await fakes.past(case, Step.AWAITING_INSPECTION)

    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert view.sla_breached and view.refunded.amount == 0
    assert fakes.provider.attempts(act.EXECUTE_REFUND) == [], "nothing paid before the team rules"
    await case.quiet_view()
    assert "auto_passed" not in fakes.store.kinds(case.inp.case_id)


async def test_customer_silent_on_the_proposal_for_72_hours_takes_the_first_option_without_a_breach(
    fakes: Fakes,
) -> None:
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await to_customer_decision(case, REFUND_ONLY)
    await fakes.past(case, Step.AWAITING_CUSTOMER_DECISION)

    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.chosen_option == 0 and "customer_timeout_first_option" in view.reason_codes
    assert view.refunded.amount == Decimal("129.00")
    assert not view.sla_breached, "a customer's limit is never an SLA breach"
    await case.quiet_view()
    stored = fakes.store.kinds(case.inp.case_id)
    assert "sla_breached" not in stored and stored.count("limit_reached") == 1
    sent = fakes.store.sent(case.inp.case_id)
    assert ("customer", "reminder") in sent and ("customer", "auto_accepted") in sent
    assert await breached_attribute(case) is not True


async def test_customer_who_never_supplies_missing_evidence_has_the_case_expired(fakes: Fakes) -> None:
    case = await fakes.start(evidence=[])
    view = await case.wait_for_step(Step.AWAITING_CUSTOMER_INFO)
    assert "awaiting_customer_info" in view.deadlines

    result = await case.handle.result()  # skips the 72 h, then the appeal window
    assert result.close_reason == CloseReason.EXPIRED and not result.sla_breached
    stored = fakes.store.kinds(case.inp.case_id)
    assert "limit_reached" in stored and "sla_breached" not in stored
    sent = fakes.store.sent(case.inp.case_id)
    assert sent[0] == ("customer", "info_request") and ("customer", "expired") in sent
    assert fakes.store.view(case.inp.case_id)["close_reason"] == "expired"


async def test_customer_who_never_ships_the_return_has_the_case_expired_and_nothing_is_paid(
    fakes: Fakes,
) -> None:
    case = await fakes.start()
    await to_customer_decision(case, RETURN_AND_REFUND)
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.wait_for_step(Step.AWAITING_RETURN_SHIPMENT)

    result = await case.handle.result()
    assert result.close_reason == CloseReason.EXPIRED and not result.sla_breached
    assert fakes.provider.attempts(act.EXECUTE_REFUND) == []
    assert ("customer", "return_instructions") in fakes.store.sent(case.inp.case_id)
    assert "limit_reached" in fakes.store.kinds(case.inp.case_id)


async def test_customer_who_never_answers_the_survey_has_it_closed_and_the_case_resolved(
    fakes: Fakes,
) -> None:
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await to_refund(case)
    await case.wait_for_step(Step.FOLLOW_UP)

    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED and not result.sla_breached
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("survey_closed") == 1 and "survey_answered" not in stored
    assert len(fakes.provider.paid) == 1


async def test_merchant_silent_in_a_dispute_is_judged_against_at_the_evidence_deadline_and_the_refund_paid(
    fakes: Fakes,
) -> None:
    case = await fakes.start(issue_type="refund_only", reason="missing_item")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.ESCALATION, {"reason": "the merchant hung up on me"}, actor="customer")
    await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    evidence = {"party": "customer", "statement": "the lid never came", "evidence": EVIDENCE}
    await case.act(Action.DISPUTE_EVIDENCE, evidence, actor="customer")
    await fakes.past(case, Step.DISPUTE_EVIDENCE)

    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert "dispute_merchant_missed_evidence_deadline" in view.reason_codes
    assert view.refunded.amount == Decimal("129.00") and len(fakes.provider.paid) == 1
    assert not view.sla_breached, "the parties' evidence limit is no SLA breach"
    await case.quiet_view()
    assert fakes.store.kinds(case.inp.case_id).count("auto_judged") == 1
    sent = fakes.store.sent(case.inp.case_id)
    assert ("customer", "dispute_judged") in sent and ("merchant", "dispute_judged") in sent


async def test_a_return_parcel_that_never_arrives_goes_to_the_dispute_team_without_a_breach(
    fakes: Fakes,
) -> None:
    case = await fakes.start()
    await to_return_in_transit(case)
    await fakes.past(case, Step.RETURN_IN_TRANSIT)

    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert "return_parcel_overdue" in view.reason_codes
    assert not view.sla_breached, "the carrier's lateness is not the merchant's breach"
    await case.quiet_view()
    stored = fakes.store.kinds(case.inp.case_id)
    assert "limit_reached" in stored and "sla_breached" not in stored and "escalated" in stored


async def test_an_agent_silent_on_the_proposal_is_breached_once_escalated_once_and_the_case_keeps_waiting(
    fakes: Fakes,
) -> None:
    case = await fakes.start(policy=policy_with(Step.LIABILITY_AND_PROPOSAL, "escalate"))
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await fakes.past(case, Step.LIABILITY_AND_PROPOSAL)

    view = await case.quiet_view()
    assert view.step == Step.LIABILITY_AND_PROPOSAL and view.sla_breached
    assert await breached_attribute(case) is True
    assert ("supervisor", "sla_breached") in fakes.store.sent(case.inp.case_id)

    await fakes.past(case, Step.LIABILITY_AND_PROPOSAL, "escalate")
    view = await case.quiet_view()
    assert view.step == Step.LIABILITY_AND_PROPOSAL, "a platform step keeps waiting past escalation"
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("sla_breached") == 1 and stored.count("sla_escalated") == 1
    assert ("supervisor_manager", "sla_escalated") in fakes.store.sent(case.inp.case_id)

    view = await case.act(Action.PROPOSAL, proposal(RETURN_AND_REFUND))
    assert view.step == Step.AWAITING_CUSTOMER_DECISION and view.sla_breached, "the breach stays on record"


async def test_merchant_who_never_resends_the_missing_part_is_breached_then_left_to_the_dispute_team(
    fakes: Fakes,
) -> None:
    case = await fakes.start(issue_type="resend", reason="missing_item")
    await to_customer_decision(case, {"resolution": "resend", "note": "lid missing"})
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await fakes.past(case, Step.RESENDING)

    view = await case.quiet_view()
    assert view.step == Step.RESENDING and view.sla_breached, "breached, still waiting for the part"
    assert ("merchant", "resend_needed") in fakes.store.sent(case.inp.case_id)

    await fakes.past(case, Step.RESENDING, "escalate")
    await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    await case.quiet_view()
    stored = fakes.store.kinds(case.inp.case_id)
    assert stored.count("sla_breached") == 1 and stored.count("undelivered") == 1


def test_the_branch_tests_drive_every_breach_action_of_the_step_table() -> None:
    for step, action in COVERED:
        assert action in STEP_TABLE[step].breach_actions, f"{step} cannot {action}"
    assert {action for _, action in COVERED} == set(get_args(BreachAction))
