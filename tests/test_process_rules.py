"""Process facts of issue 13 under time skipping: who breaches, which limits run, what each breach
action does, appeals and the after-sales window, rulings that need approval."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as c
from activities.provider_client import ProviderClient
from domain.enums import Action, CloseReason, Step
from domain.models import CaseRequest, CaseView
from domain.policy import DEFAULT_LIMITS, CasePolicy, StepLimit
from domain.steps import STEP_TABLE
from store import cases
from store.errors import OpenCaseExists
from store.models import SlaBreachRow
from tests.support.cases import CaseDriver, kettle_request, open_case, wait_until_quiet
from workers.build import WORKFLOWS, activities_by_name


def cny(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def proposal(*options: dict[str, Any], liability: str = "merchant") -> dict[str, Any]:
    return {"liability": liability, "options": list(options)}


def kinds(view: CaseView) -> list[str]:
    return [entry.kind for entry in view.timeline]


@pytest.fixture
def start(ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]) -> Any:
    async def start_case(policy: CasePolicy | None = None, **overrides: Any) -> CaseDriver:
        now = await ts_env.get_current_time()
        request = CaseRequest.model_validate(kettle_request(now, **overrides).model_dump(mode="json"))
        inp = open_case(sessions, request, now, policy)
        return await CaseDriver(ts_env.client, inp, worker.task_queue).start()

    return start_case


# --- who breaches -----------------------------------------------------------------------------


async def test_a_customer_who_never_supplies_missing_information_expires_the_case_without_a_breach(
    start: Any, ts_env: WorkflowEnvironment, sessions: sessionmaker[Session]
) -> None:
    case = await start(description="")
    await case.wait_for_step(Step.AWAITING_CUSTOMER_INFO)
    await ts_env.sleep(timedelta(days=4))
    result = await case.handle.result()
    assert result.close_reason == CloseReason.EXPIRED
    assert not result.sla_breached
    assert "sla_breached" not in kinds(result) and "limit_reached" in kinds(result)
    await wait_until_quiet(case.handle)
    with sessions() as session:  # what the breach rate and the reports count
        row = cases.get_case(session, case.inp.case_id)
        assert row is not None and row.status == "closed" and not row.sla_breached
        breaches = select(func.count()).select_from(SlaBreachRow).where(SlaBreachRow.case_id == row.case_id)
        assert session.scalar(breaches) == 0


async def test_a_silent_customer_decision_return_and_survey_are_automatic_decisions_not_breaches(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, proposal({"resolution": "return_and_refund", "refund": cny("129.00")}))
    await ts_env.sleep(timedelta(days=4))  # customer silent 72 h → first option
    await case.wait_for_step(Step.AWAITING_RETURN_SHIPMENT)
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF1"})
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    await case.wait_for_step(Step.FOLLOW_UP)
    await ts_env.sleep(timedelta(days=8))  # no survey answer
    result = await case.handle.result()
    assert result.close_reason == CloseReason.RESOLVED
    assert "customer_timeout_first_option" in result.reason_codes
    assert not result.sla_breached and "sla_breached" not in kinds(result)
    described = await ts_env.client.get_workflow_handle(case.handle.id).describe()
    assert described.typed_search_attributes.get(_sla_breached_key()) is False


def _sla_breached_key() -> Any:
    from workflows.search_attributes import SLA_BREACHED

    return SLA_BREACHED


async def test_a_silent_merchant_breaches_and_the_breach_names_the_merchant(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await ts_env.sleep(timedelta(days=6))
    view = await case.wait_for_step(Step.LIABILITY_AND_PROPOSAL)
    assert view.sla_breached and "auto_accepted" in kinds(view)


# --- limits that run --------------------------------------------------------------------------


async def test_a_return_parcel_that_never_arrives_goes_to_the_dispute_team_without_a_breach(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, proposal({"resolution": "return_and_refund", "refund": cny("129.00")}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF-LOST"})
    await case.wait_for_step(Step.RETURN_IN_TRANSIT)
    await ts_env.sleep(timedelta(days=16))  # 360 h in transit
    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert "return_parcel_overdue" in view.reason_codes
    assert not view.sla_breached


def test_every_published_limit_belongs_to_a_step_that_waits_and_the_review_publishes_none() -> None:
    for step, limit in DEFAULT_LIMITS.items():
        spec = STEP_TABLE[step]
        assert spec.waits_for or step in (Step.REFUNDING, Step.COMPENSATING), step
        assert limit.on_breach in spec.breach_actions, step
    assert Step.PRELIMINARY_REVIEW not in DEFAULT_LIMITS


class FlakyMoneyProvider:
    """A payment/coupon provider that is down until the test says it is back.

    A fake on purpose: an outage longer than a step's limit cannot be played through the shared
    simulator without slowing every other test. Every call records the idempotency key it carried."""

    def __init__(self) -> None:
        self.back = False
        self.refund_keys: list[str] = []
        self.credit_keys: list[str] = []

    @activity.defn(name=c.EXECUTE_REFUND)
    async def execute_refund(self, request: c.RefundRequest) -> c.RefundOutcome:
        self.refund_keys.append(f"{request.case_id}-refund-{request.seq}")
        if not self.back:
            raise ApplicationError("payment provider unavailable", type="ProviderUnavailable")
        return c.RefundOutcome(status="succeeded", provider_refund_id="R-1", amount=request.amount)

    @activity.defn(name=c.ISSUE_CREDIT)
    async def issue_credit(self, request: c.CreditRequest) -> c.ProviderReceipt:
        self.credit_keys.append(request.idempotency_key)
        if not self.back:
            raise ApplicationError("coupon provider unavailable", type="ProviderUnavailable")
        return c.ProviderReceipt(reference="C-1")


@pytest.fixture
async def flaky_worker(
    ts_env: WorkflowEnvironment, sessions: sessionmaker[Session], provider: ProviderClient, task_queue: str
) -> AsyncIterator[tuple[Worker, FlakyMoneyProvider]]:
    flaky = FlakyMoneyProvider()
    activities: dict[str, Callable[..., Any]] = {
        **activities_by_name(sessions, provider),
        c.EXECUTE_REFUND: flaky.execute_refund,
        c.ISSUE_CREDIT: flaky.issue_credit,
    }
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=list(activities.values()),
        activity_executor=ThreadPoolExecutor(4),
    ) as worker:
        yield worker, flaky


@pytest.mark.slow  # real seconds: the test server does not skip time while an activity backs off
@pytest.mark.parametrize(
    ("step", "option", "paid"),
    [
        (Step.REFUNDING, {"resolution": "refund_only", "refund": cny("129.00")}, "refund_keys"),
        (Step.COMPENSATING, {"resolution": "compensation", "compensation": cny("20.00")}, "credit_keys"),
    ],
)
async def test_money_that_cannot_move_within_its_limit_breaches_and_is_paid_once_when_the_provider_is_back(
    ts_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    flaky_worker: tuple[Worker, FlakyMoneyProvider],
    step: Step,
    option: dict[str, Any],
    paid: str,
) -> None:
    worker, flaky = flaky_worker
    # The test server does not skip time while an activity waits for its next attempt: the step's
    # limit is a few seconds here, and the provider stays down until the breach is seen.
    seconds = StepLimit(hours=Decimal("0.001"), basis="calendar", on_breach="escalate", who_acts="supervisor")
    policy = CasePolicy(limits={**DEFAULT_LIMITS, step: seconds})
    now = await ts_env.get_current_time()
    inp = open_case(
        sessions, kettle_request(now, issue_type="refund_only", reason="missing_item"), now, policy
    )
    case = await CaseDriver(ts_env.client, inp, worker.task_queue).start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, proposal(option))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    view = await case.view_when(lambda v: "sla_breached" in kinds(v), "a breach while the provider is down")
    assert view.step == step and view.sla_breached
    flaky.back = True
    await case.wait_for_step(Step.FOLLOW_UP)
    keys = getattr(flaky, paid)
    assert len(keys) >= 2 and len(set(keys)) == 1, "every retry carried the same key: paid once"


# --- breach actions ---------------------------------------------------------------------------


@pytest.mark.slow  # ~20 s: ending the escalated case waits for it to be quiet
async def test_a_policy_that_escalates_a_silent_merchant_sends_the_case_to_the_dispute_team(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start(policy=CasePolicy(merchant_timeout_action="escalate"))
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await ts_env.sleep(timedelta(days=7))
    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert view.sla_breached
    assert {"sla_breached", "sla_escalated", "merchant_overdue", "escalated"} <= set(kinds(view))


async def test_a_policy_that_sends_a_silent_inspection_to_dispute_does_so_at_the_limit(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    to_dispute = DEFAULT_LIMITS[Step.AWAITING_INSPECTION].model_copy(update={"on_breach": "to_dispute"})
    case = await start(policy=CasePolicy(limits={**DEFAULT_LIMITS, Step.AWAITING_INSPECTION: to_dispute}))
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, proposal({"resolution": "return_and_refund", "refund": cny("129.00")}))
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF", "tracking_no": "SF1"})
    await case.act(Action.RETURN_DELIVERED, {})
    await ts_env.sleep(timedelta(days=10))
    view = await case.wait_for_step(Step.DISPUTE_EVIDENCE)
    assert view.sla_breached and "auto_passed" not in kinds(view)


@pytest.mark.parametrize(
    ("step", "action"),
    [
        (Step.LIABILITY_AND_PROPOSAL, "auto_accept"),
        (Step.AWAITING_CUSTOMER_INFO, "escalate"),
        (Step.RETURN_IN_TRANSIT, "auto_pass"),
        (Step.AWAITING_APPROVAL, "to_dispute"),
    ],
)
def test_a_policy_naming_a_breach_action_its_step_cannot_take_is_refused_with_the_field(
    step: Step, action: str
) -> None:
    bad = DEFAULT_LIMITS[step].model_copy(update={"on_breach": action})
    with pytest.raises(ValueError, match=f"limits.{step}.on_breach"):
        CasePolicy(limits={**DEFAULT_LIMITS, step: bad})


def test_a_policy_limit_on_a_step_that_takes_none_is_refused() -> None:
    limit = StepLimit(hours=Decimal("2"))
    with pytest.raises(ValueError, match=r"limits\.preliminary_review"):
        CasePolicy(limits={**DEFAULT_LIMITS, Step.PRELIMINARY_REVIEW: limit})


# --- rulings ----------------------------------------------------------------------------------


async def test_a_ruling_above_the_refund_threshold_waits_for_a_supervisor(
    start: Any, ts_env: WorkflowEnvironment
) -> None:
    case = await start(price="700.00", issue_type="refund_only", reason="missing_item")
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.ESCALATION, {"reason": "merchant refuses"})
    ruling = {"liability": "merchant", "resolution": {"resolution": "refund_only", "refund": cny("700.00")}}
    view = await case.act(Action.DISPUTE_RULING, ruling)
    view = await case.wait_for_step(Step.AWAITING_APPROVAL)
    assert view.refunded.amount == 0
    await case.act(Action.APPROVAL, {"decision": "reject", "comment": "too much without evidence"})
    await case.wait_for_step(Step.DISPUTE)
    smaller = {"liability": "merchant", "resolution": {"resolution": "refund_only", "refund": cny("400.00")}}
    await case.act(Action.DISPUTE_RULING, smaller)
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.refunded.amount == Decimal("400.00")


# --- appeals and the window -------------------------------------------------------------------


async def test_an_appeal_is_refused_while_another_open_case_holds_the_order_line(
    start: Any, ts_env: WorkflowEnvironment, sessions: sessionmaker[Session], worker: Worker
) -> None:
    rejected = await start()
    await rejected.wait_for_step(Step.MERCHANT_VERIFICATION)
    await rejected.act(Action.MERCHANT_RESPONSE, {"accepts_claim": False})
    await rejected.act(Action.PROPOSAL, proposal({"resolution": "reject", "note": "used item"}))
    await rejected.act(Action.APPROVAL, {"decision": "approve"})
    await rejected.wait_for_step(Step.CLOSED)

    now = await ts_env.get_current_time()
    order_id = rejected.inp.request.order.order_id
    holder_inp = open_case(sessions, kettle_request(now, order_id=order_id), now)  # the line is free again
    holder = await CaseDriver(ts_env.client, holder_inp, worker.task_queue).start()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await rejected.act(Action.APPEAL, {"reason": "the item was new"})
    assert holder_inp.case_id in str(refused.value.cause)
    assert (await rejected.view()).step == Step.CLOSED

    await holder.wait_for_step(Step.MERCHANT_VERIFICATION)
    await holder.act(Action.WITHDRAWAL, {"reason": "duplicate"})
    await holder.wait_for_step(Step.CLOSED)
    await rejected.act(Action.APPEAL, {"reason": "the item was new"})  # within the window, line free
    await rejected.wait_for_step(Step.DISPUTE_EVIDENCE)
    with pytest.raises(OpenCaseExists):  # the reopened case holds its line again
        open_case(sessions, kettle_request(now, order_id=order_id), now)


async def test_information_supplied_after_the_window_ended_is_judged_by_when_the_claim_came_in(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    now = await ts_env.get_current_time()
    data = kettle_request(now, reason="changed_mind", description="").model_dump(mode="json")
    data["order"]["delivered_at"] = (now - timedelta(days=6)).isoformat()
    data["order"]["paid_at"] = (now - timedelta(days=8)).isoformat()
    inp = open_case(sessions, CaseRequest.model_validate(data), now)
    case = await CaseDriver(ts_env.client, inp, worker.task_queue).start()
    await case.wait_for_step(Step.AWAITING_CUSTOMER_INFO)
    await ts_env.sleep(timedelta(days=2, hours=12))  # the 7-day window has ended by now
    await case.act(Action.CUSTOMER_INFO, {"description": "I no longer need it"})
    view = await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    assert "review_out_of_scope" not in kinds(view)
