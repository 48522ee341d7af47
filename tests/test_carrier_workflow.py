"""Carriers end to end (issue 19) under time skipping, with the real store, simulator and activities:
the return label's number finds the case in the store, the carrier's scans move the return, a lost
parcel opens a carrier claim at the simulator and the refund is paid once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import names
from domain.carriers import CarrierScan, ScanKind
from domain.enums import Action, Liability, Step
from domain.policy_docs import resolve
from store import carriers
from tests.support.cases import CaseDriver, kettle_request, open_case, wait_until_quiet
from tests.test_case_workflow import REFUND_129, refunds_in_ledger

PLATFORM = resolve([]).policy


def claims_in_ledger(simulator_url: str, case_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{simulator_url}/v1/ledger", params={"case_id": case_id, "kind": "carrier_claim"})
    return list(answer.json()["entries"])


async def scan(case: CaseDriver, kind: ScanKind, tracking_no: str) -> None:
    event = CarrierScan(
        carrier="sim",
        event_id=f"EV-{kind}-{tracking_no}",
        tracking_no=tracking_no,
        kind=kind,
        at=datetime.now(UTC),
    )
    await case.handle.signal(names.SIGNAL_CARRIER_SCAN, event)


async def to_return_shipment(
    ts_env: WorkflowEnvironment, sessions: sessionmaker[Session], task_queue: str
) -> tuple[CaseDriver, str]:
    now = await ts_env.get_current_time()
    inp = open_case(sessions, kettle_request(now), now, policy=PLATFORM)
    case = await CaseDriver(ts_env.client, inp, task_queue).start()
    await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    await case.act(Action.PROPOSAL, REFUND_129)
    await case.act(Action.CUSTOMER_DECISION, {"accept_option": 0})
    view = await case.view_when(lambda v: bool(v.return_tracking_no), "the label's tracking number")
    await wait_until_quiet(case.handle)
    assert view.return_tracking_no is not None and view.return_tracking_no.startswith("SIM")
    return case, view.return_tracking_no


async def test_the_labels_number_finds_the_case_and_the_carriers_scans_move_the_return(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], simulator_url: str
) -> None:
    case, tracking_no = await to_return_shipment(ts_env, sessions, worker.task_queue)
    with sessions() as session:
        found = carriers.case_of(session, tracking_no)
        assert found is not None and found.case_id == case.inp.case_id
    await scan(case, "pickup", tracking_no)
    await case.wait_for_step(Step.RETURN_IN_TRANSIT)
    await scan(case, "delivered", tracking_no)
    await case.wait_for_step(Step.AWAITING_INSPECTION)
    await case.act(Action.INSPECTION, {"passed": True})
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.refunded.amount == 129 and len(refunds_in_ledger(simulator_url, case.inp.case_id)) == 1


async def test_a_parcel_lost_in_transit_opens_a_carrier_claim_and_is_refunded_once(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], simulator_url: str
) -> None:
    case, tracking_no = await to_return_shipment(ts_env, sessions, worker.task_queue)
    await scan(case, "pickup", tracking_no)
    await case.wait_for_step(Step.RETURN_IN_TRANSIT)
    await wait_until_quiet(case.handle)
    await ts_env.sleep(timedelta(days=15, hours=1))  # no scan for 15 days: lost
    view = await case.wait_for_step(Step.FOLLOW_UP)
    assert view.liability == Liability.LOGISTICS and "return_parcel_lost" in view.reason_codes
    await wait_until_quiet(case.handle)
    assert len(refunds_in_ledger(simulator_url, case.inp.case_id)) == 1
    claims = claims_in_ledger(simulator_url, case.inp.case_id)
    assert len(claims) == 1 and claims[0]["record"]["tracking_no"] == tracking_no
