"""Scenario helpers: build requests like DESIGN §6's example and drive a case step by step."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from api.ids import new_case_id
from api.routes_cases import _initial_view
from api.temporal_gateway import workflow_id_for
from domain.enums import Action, Step
from domain.models import ActionEnvelope, CaseInput, CaseRequest, CaseView
from domain.policy import CasePolicy
from store import cases
from tests.support.waiting import eventually
from workflows.case_workflow import CaseWorkflow


def kettle_request(
    now: datetime, *, order_id: str | None = None, price: str = "129.00", **overrides: Any
) -> CaseRequest:
    delivered = now - timedelta(days=2)
    data: dict[str, Any] = {
        "order": {
            "order_id": order_id or f"O-{now:%Y%m%d}-{new_case_id(now)[-6:]}",
            "merchant_id": "M-100",
            "customer_id": "C-42",
            "paid_at": (delivered - timedelta(days=2)).isoformat(),
            "delivered_at": delivered.isoformat(),
            "payment_method": "alipay",
            "lines": [
                {
                    "line_id": "L1",
                    "sku": "SKU-1",
                    "name": "Electric kettle",
                    "category": "appliances",
                    "quantity": 1,
                    "unit_price": {"amount": price, "currency": "CNY"},
                }
            ],
        },
        "line_ids": ["L1"],
        "issue_type": "return_and_refund",
        "reason": "quality_issue",
        "description": "The kettle leaks from the base.",
        "evidence": [{"kind": "image", "url": "https://cdn.example.com/e/1.jpg"}],
        "contact": {"name": "张三", "phone": "+86 138 0000 0000", "address": "上海市浦东新区"},
        "channel": "app",
    }
    data.update(overrides)
    return CaseRequest.model_validate(data)


def open_case(
    sessions: sessionmaker[Session], request: CaseRequest, now: datetime, policy: CasePolicy | None = None
) -> CaseInput:
    """What the API does before starting the workflow: the case row, then the input."""
    case_id = new_case_id(now)
    with sessions.begin() as session:
        cases.create_case(
            session, case_id, workflow_id_for(case_id), None, request, _initial_view(case_id, request, now)
        )
    return CaseInput(case_id=case_id, request=request, received_at=now, policy=policy or CasePolicy())


HISTORIES = Path(__file__).resolve().parent.parent / "histories"
STARTED: list[WorkflowHandle[Any, Any]] = []


async def terminate_started() -> None:
    """End the cases a test started, each once it is quiet.

    The test server never gives back the clock lock of a task or activity in flight when its workflow
    is terminated (see tests/conftest.py); its clock stands still outside `env.sleep`, so a case that
    is quiet stays quiet until it is terminated.
    """
    while STARTED:
        handle = STARTED.pop()
        with contextlib.suppress(Exception):  # already completed
            await quiet_or_not(handle)
            await handle.terminate("test finished")


async def is_quiet(handle: WorkflowHandle[Any, Any]) -> bool:
    """No workflow task and no activity in flight: the case waits on people or timers."""
    raw = (await handle.describe()).raw_description
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")


async def wait_until_quiet(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the case is quiet (`is_quiet`); fails if it never gets there."""
    await eventually(lambda: is_quiet(handle), bool, f"{handle.id} quiet")


async def quiet_or_not(handle: WorkflowHandle[Any, Any], seconds: float = 10) -> None:
    """Until the case is quiet, for at most `seconds`: the clean-up's courtesy before it terminates
    a case, which must not fail or hold the suite when a case retries an activity for ever."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wait_until_quiet(handle), seconds)


class CaseDriver:
    """Acts on one case the way the API does (Updates), and reads its live state."""

    def __init__(self, client: Client, inp: CaseInput, task_queue: str) -> None:
        self.client = client
        self.inp = inp
        self.task_queue = task_queue
        self.handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id_for(inp.case_id))

    async def start(self) -> CaseDriver:
        self.handle = await self.client.start_workflow(
            CaseWorkflow.run, self.inp, id=workflow_id_for(self.inp.case_id), task_queue=self.task_queue
        )
        STARTED.append(self.handle)
        return self

    async def quiet_view(self) -> CaseView:
        """The state once what the last step started (notifications, store writes) has finished."""
        await wait_until_quiet(self.handle)
        return await self.view()

    async def view(self) -> CaseView:
        return await self.handle.query("case", result_type=CaseView)

    async def settled(self) -> None:
        """Until the case's first workflow task is done (a timer started: it waits at a step). Read
        from the history: a query sent while that task runs would add a workflow task of its own to
        the history on the time-skipping server, which the recorded histories should not carry."""

        def waiting(history: WorkflowHistory) -> bool:
            return any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events)

        await eventually(self.handle.fetch_history, waiting, f"case {self.inp.case_id} waits at a step")

    async def wait_for_step(self, step: Step) -> CaseView:
        return await self.view_when(lambda view: view.step == step, f"at {step}")

    async def view_when(self, ready: Callable[[CaseView], bool], expected: str = "ready") -> CaseView:
        """The state as soon as `ready` holds (a signal takes effect a workflow task later)."""
        return await eventually(self.view, ready, f"case {self.inp.case_id} {expected}")

    async def act(
        self, action: Action, payload: dict[str, Any] | None = None, actor: str = "test"
    ) -> CaseView:
        envelope = ActionEnvelope(action=action, payload=payload or {}, actor=actor)
        return await self.handle.execute_update(action.value, envelope, result_type=CaseView)


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With RECORD_HISTORIES=1, save the case's history for the replay test."""
    if os.environ.get("RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    await asyncio.to_thread((HISTORIES / f"{name}.json").write_text, history.to_json())
