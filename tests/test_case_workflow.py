"""The case workflow under time skipping, with the real store, real simulator and real activities."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.enums import Action, CloseReason, Step
from store import audit, cases
from store.models import EvidenceRow, SurveyRow
from tests.support.cases import CaseDriver, kettle_request, open_case, record_history
from workflows import search_attributes as sa

REFUND_129 = {
    "liability": "merchant",
    "options": [
        {"resolution": "return_and_refund", "refund": {"amount": "129.00", "currency": "CNY"}, "note": ""}
    ],
}


SHANGHAI = ZoneInfo("Asia/Shanghai")


async def new_case(
    ts_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> CaseDriver:
    now = await ts_env.get_current_time()
    inp = open_case(sessions, kettle_request(now), now)
    return await CaseDriver(ts_env.client, inp, task_queue).start()


def refunds_in_ledger(simulator_url: str, case_id: str) -> list[dict[str, object]]:
    entries = httpx.get(f"{simulator_url}/v1/ledger", params={"case_id": case_id, "kind": "refund"}).json()
    return list(entries["entries"] if isinstance(entries, dict) else entries)


async def test_return_and_refund_runs_from_intake_to_resolved(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], simulator_url: str
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)

    await case.settled()
    view = await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    assert "merchant_verification" in view.deadlines
    view = await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True, "comment": "leak confirmed"})
    assert view.step == Step.LIABILITY_AND_PROPOSAL
    view = await case.act(Action.PROPOSAL, REFUND_129)
    assert view.step == Step.AWAITING_CUSTOMER_DECISION
    view = await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    assert view.step == Step.AWAITING_RETURN_SHIPMENT
    view = await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF Express", "tracking_no": "SF1234567890"})
    assert view.step == Step.RETURN_IN_TRANSIT
    assert view.return_tracking_no == "SF1234567890"
    view = await case.act(Action.RETURN_DELIVERED, {})
    assert view.step == Step.AWAITING_INSPECTION
    await case.act(Action.INSPECTION, {"passed": True, "note": "leak reproduced"})
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.refunded.amount == Decimal("129.00")
    view = await case.act(Action.SURVEY, {"csat": 5, "nps": 9, "comment": "quick"})

    result = await case.handle.result()
    await record_history(case.handle, "return_and_refund_resolved")
    assert result.step == Step.CLOSED
    assert result.close_reason == CloseReason.RESOLVED
    assert len(refunds_in_ledger(simulator_url, case.inp.case_id)) == 1
    with sessions() as session:
        row = cases.get_case(session, case.inp.case_id)
        assert row is not None and row.status == "closed" and row.close_reason == "resolved"
        kinds = [e.kind for e in audit.list_events(session, case.inp.case_id)]
    assert kinds[0] == "intake" and kinds[-1] in ("closed", "step")
    assert "refunded" in kinds and "survey_answered" in kinds
    assert not repository_problems(sessions, case.inp.case_id)
    with sessions() as session:
        rebuilt = audit.rebuild_projection(session, case.inp.case_id)
        row = cases.get_case(session, case.inp.case_id)
        assert row is not None
        assert (rebuilt.step, rebuilt.status, rebuilt.close_reason) == (
            row.step,
            row.status,
            row.close_reason,
        )
        assert rebuilt.refunded == row.refunded_amount == Decimal("129.00")
        surveys = session.scalars(select(SurveyRow).where(SurveyRow.case_id == case.inp.case_id)).all()
        evidence = session.scalars(select(EvidenceRow).where(EvidenceRow.case_id == case.inp.case_id)).all()
    assert [(s.csat, s.nps) for s in surveys] == [(5, 9)]
    assert [e.url for e in evidence] == ["https://cdn.example.com/e/1.jpg"]


def repository_problems(sessions: sessionmaker[Session], case_id: str) -> list[object]:
    with sessions() as session:
        return list(audit.verify_chain(session, case_id))


async def test_merchant_silent_for_24_working_hours_auto_accepts_the_claim(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)
    view = await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    due = view.deadlines["merchant_verification"]
    now = await ts_env.get_current_time()
    assert due - now >= timedelta(hours=24), "24 working hours never fit in less than 24 calendar hours"

    await ts_env.sleep(due - now - timedelta(minutes=1))
    assert (await case.view()).step == Step.MERCHANT_VERIFICATION, "not a minute before the limit"
    await ts_env.sleep(timedelta(minutes=2))
    view = await case.wait_for_step(Step.LIABILITY_AND_PROPOSAL)
    assert view.sla_breached
    kinds = [entry.kind for entry in view.timeline]
    assert "sla_warning" in kinds and "sla_breached" in kinds and "auto_accepted" in kinds


async def test_a_case_nobody_answers_runs_weeks_of_limits_in_seconds_and_pays_once(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], simulator_url: str
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await ts_env.sleep(timedelta(days=6))  # merchant silent → auto-accepted
    await case.wait_for_step(Step.LIABILITY_AND_PROPOSAL)
    await case.act(Action.PROPOSAL, REFUND_129)
    await ts_env.sleep(timedelta(days=4))  # customer silent 72 h → first option
    await case.wait_for_step(Step.AWAITING_RETURN_SHIPMENT)
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF Express", "tracking_no": "SF1"})
    await case.act(Action.RETURN_DELIVERED, {})
    await ts_env.sleep(timedelta(days=10))  # merchant does not inspect (48 working h) → auto-pass, refund
    await case.wait_for_step(Step.FOLLOW_UP)
    result = await case.handle.result()  # survey window ends → closed
    await record_history(case.handle, "nobody_answers_auto_decisions")
    assert result.close_reason == CloseReason.RESOLVED
    assert result.refunded.amount == Decimal("129.00")
    assert len(refunds_in_ledger(simulator_url, case.inp.case_id)) == 1


async def test_an_action_at_the_wrong_step_is_refused_and_changes_nothing(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)
    before = await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await case.act(Action.INSPECTION, {"passed": True})
    assert "does not take inspection" in str(refused.value.cause)
    after = await case.view()
    assert after.step == before.step and after.timeline == before.timeline


async def test_customer_who_never_ships_the_return_expires_the_case_without_a_refund(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], simulator_url: str
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, REFUND_129)
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    result = await case.handle.result()
    await record_history(case.handle, "return_never_shipped_expired")
    assert result.close_reason == CloseReason.EXPIRED
    assert refunds_in_ledger(simulator_url, case.inp.case_id) == []


async def test_an_agent_claims_a_supervisor_reassigns_and_the_assignee_releases_while_the_case_goes_on(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)
    await case.settled()  # waits at merchant verification (no query: the history is recorded)

    view = await case.act(Action.CLAIM, {"person_id": "P-ana"}, actor="agent:P-ana")
    assert view.assigned_to == "P-ana"
    with pytest.raises(WorkflowUpdateFailedError) as taken:
        await case.act(Action.CLAIM, {"person_id": "P-bo"}, actor="agent:P-bo")
    assert getattr(taken.value.cause, "type", None) == "AssignmentConflict"
    view = await case.act(Action.ASSIGN, {"person_id": "P-bo"}, actor="supervisor:P-li")
    assert view.assigned_to == "P-bo"
    attributes = (await case.handle.describe()).typed_search_attributes
    assert attributes.get(sa.ASSIGNED_TO) == "P-bo"
    view = await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    assert (view.step, view.assigned_to) == (Step.LIABILITY_AND_PROPOSAL, "P-bo")  # it stays with the case
    with pytest.raises(WorkflowUpdateFailedError):
        await case.act(Action.RELEASE, {"person_id": "P-ana"}, actor="agent:P-ana")  # not hers any more
    view = await case.act(Action.RELEASE, {"person_id": "P-bo"}, actor="agent:P-bo")
    assert view.assigned_to is None
    assert (await case.handle.describe()).typed_search_attributes.get(sa.ASSIGNED_TO) is None
    with sessions() as session:
        row = cases.get_case(session, case.inp.case_id)
        assert row is not None and row.assigned_to is None
        kinds = [(e.kind, e.actor) for e in audit.list_events(session, case.inp.case_id)]
    assert [k for k in kinds if k[0] in ("claimed", "assigned", "released")] == [
        ("claimed", "agent:P-ana"),
        ("assigned", "supervisor:P-li"),
        ("released", "agent:P-bo"),
    ]
    await case.act(Action.WITHDRAWAL, {"reason": "sorted it out"})
    await case.handle.result()
    await record_history(case.handle, "claimed_reassigned_released")


async def test_the_callback_finds_it_not_solved_and_the_agent_gives_a_second_remedy_under_approval(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], simulator_url: str
) -> None:
    case = await new_case(ts_env, sessions, worker.task_queue)
    await case.settled()
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, REFUND_129)
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    await case.act(Action.RETURN_SHIPMENT, {"carrier": "SF Express", "tracking_no": "SF1"})
    await case.act(Action.RETURN_DELIVERED, {})
    await case.act(Action.INSPECTION, {"passed": True})
    await case.wait_for_step(Step.FOLLOW_UP)

    view = await case.view()
    today = (await ts_env.get_current_time()).astimezone(SHANGHAI).date()
    assert view.callback_at is not None  # seed 003: the next day the service desk works (every day)
    assert view.callback_at.astimezone(SHANGHAI).date() == today + timedelta(days=1)
    assert view.callback_at.astimezone(SHANGHAI).hour == 9
    view = await case.act(Action.SECOND_REMEDY, {"reason": "the new kettle leaks too"}, actor="agent:P-ana")
    assert view.step == Step.LIABILITY_AND_PROPOSAL and view.options == []  # back to the agent
    coupon = {
        "liability": "merchant",
        "options": [{"resolution": "compensation", "compensation": {"amount": "500.00", "currency": "CNY"}}],
    }
    view = await case.act(Action.PROPOSAL, coupon)
    assert view.step == Step.AWAITING_APPROVAL  # 500 CNY needs a supervisor, as any proposal would
    await case.act(Action.APPROVAL, {"decision": "approve"}, actor="supervisor:li")
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.compensated is not None and view.compensated.amount == Decimal("500.00")
    assert view.refunded.amount == Decimal("129.00")  # the first remedy's refund, paid once
    await case.act(Action.SURVEY, {"csat": 4, "nps": 8})
    result = await case.handle.result()
    assert result.step == Step.CLOSED and result.close_reason == CloseReason.RESOLVED
    assert len(refunds_in_ledger(simulator_url, case.inp.case_id)) == 1
    kinds = [e.kind for e in result.timeline]
    assert kinds.count("callback_scheduled") == 2 and "second_remedy" in kinds
    await record_history(case.handle, "second_remedy_after_callback")
