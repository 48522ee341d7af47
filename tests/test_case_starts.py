"""Durable case starts: `POST /v1/cases` answers once the case is stored, and no stored case is left
without its workflow, whether the API dies after its commit, Temporal cannot take the start, or an
action comes first. A case whose workflow has ended is never started again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.provider_client import ProviderClient
from api.app import create_app
from api.case_starts import BackgroundStarts
from api.temporal_gateway import TemporalGateway
from core.settings import Settings
from domain.models import CaseInput
from domain.names import workflow_id_for
from services.case_start import start_case_workflow
from store import case_starts
from store.common import utcnow
from store.models import CaseRow
from tests.support.cases import kettle_request
from tests.support.servers import run_uvicorn
from tests.support.waiting import PATIENCE, until
from workers.build import build_worker
from workers.outbox_relay import OutboxRelay
from workers.start_relay import StartPolicy, StartRelay

TASK_QUEUE = "case-starts-tests"


class StartsThatNeverHappen(TemporalGateway):
    """The API process dying between its commit and the start: Temporal never hears of the case."""

    async def start_case(self, inp: CaseInput) -> bool:
        raise RPCError("the API process died before its start", RPCStatusCode.UNAVAILABLE, b"")


@dataclass
class Stack:
    app: FastAPI
    http: httpx.AsyncClient
    client: Client
    sessions: sessionmaker[Session]
    keys: dict[str, str]
    settings: Settings

    @property
    def real_gateway(self) -> TemporalGateway:
        return cast(TemporalGateway, self.app.state.ctx.gateway)

    def api_dies_before_starting(self) -> TemporalGateway:
        real = self.real_gateway
        self.app.state.ctx.gateway = StartsThatNeverHappen(real.client, real.task_queue, 10)
        return real

    async def open(self, key: str | None = None, body: dict[str, object] | None = None) -> httpx.Response:
        if body is None:
            order_id = f"O-{uuid.uuid4().hex[:10]}"
            body = kettle_request(datetime.now(UTC), order_id=order_id).model_dump(mode="json")
        headers = {"Authorization": f"Bearer {self.keys['system']}"}
        if key:
            headers["Idempotency-Key"] = key
        return await self.http.post("/v1/cases", json=body, headers=headers)

    def pending(self, case_id: str) -> bool:
        with self.sessions() as session:
            return case_starts.is_pending(session, case_id)

    def row(self, case_id: str) -> CaseRow:
        with self.sessions() as session:
            found = session.get(CaseRow, case_id)
            assert found is not None
            return found

    async def run_id(self, case_id: str) -> str | None:
        """The case's workflow run, None when Temporal has none."""
        try:
            return (await self.client.get_workflow_handle(workflow_id_for(case_id)).describe()).run_id
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    keys: dict[str, str],
) -> AsyncIterator[Stack]:
    # The API's default: it answers after at most 50 ms whether or not the start is made.
    app_settings = settings.model_copy(update={"task_queue": TASK_QUEUE, "case_start_wait_seconds": 0.05})
    app = create_app(app_settings, client=dev_env.client)
    relay = OutboxRelay.from_settings(app_settings, sessions, provider)
    async with (
        relay.running(),
        build_worker(dev_env.client, app_settings, sessions, provider, wake_relay=relay.wake),
    ):
        with run_uvicorn(app) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                yield Stack(app, http, dev_env.client, sessions, keys, app_settings)


def relay_for(stack: Stack, ahead: timedelta = timedelta(minutes=5)) -> StartRelay:
    """A start relay whose clock runs `ahead`: pending starts are past their grace at once."""
    return StartRelay(
        stack.sessions,
        stack.client,
        StartPolicy(task_queue=TASK_QUEUE, poll=timedelta(seconds=0.2)),
        clock=lambda: utcnow() + ahead,
    )


async def test_the_api_dies_after_storing_a_case_and_the_start_relay_starts_its_workflow(
    stack: Stack,
) -> None:
    real = stack.api_dies_before_starting()
    try:
        answer = await stack.open()
    finally:
        stack.app.state.ctx.gateway = real
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]
    assert answer.json()["status"] == "pending" and answer.json()["step"] == "submitted"
    assert stack.pending(case_id), "the start is stored with the case"
    assert await stack.run_id(case_id) is None, "Temporal never heard of it"

    relay = relay_for(stack)
    async with relay.running():
        await until("the workflow's first store write", lambda: not stack.pending(case_id))
        await until(
            "the case waits for the merchant", lambda: stack.row(case_id).step == "merchant_verification"
        )
    assert relay.metrics.started._value.get() == 1
    assert await stack.run_id(case_id) is not None


async def test_a_started_case_leaves_no_pending_start_behind(stack: Stack) -> None:
    answer = await stack.open()
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]
    await until("the workflow's first store write", lambda: not stack.pending(case_id))
    assert await stack.run_id(case_id) is not None


async def test_an_action_on_a_case_whose_start_never_happened_starts_it_first(stack: Stack) -> None:
    real = stack.api_dies_before_starting()
    try:
        answer = await stack.open()
    finally:
        stack.app.state.ctx.gateway = real  # the API is back
    case_id = answer.json()["case_id"]
    assert stack.pending(case_id)

    withdrawn = await stack.http.post(
        f"/v1/cases/{case_id}/withdrawal",
        json={"reason": "found it"},
        headers={"Authorization": f"Bearer {stack.keys['system']}"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "closed"
    await until("the withdrawal stored", lambda: stack.row(case_id).status == "closed")
    assert not stack.pending(case_id)
    assert await stack.run_id(case_id) is not None


async def test_a_repeated_create_makes_the_start_the_first_one_did_not(stack: Stack) -> None:
    key = f"create-{uuid.uuid4().hex[:8]}"
    real = stack.api_dies_before_starting()
    try:
        body = kettle_request(datetime.now(UTC), order_id=f"O-{uuid.uuid4().hex[:10]}").model_dump(
            mode="json"
        )
        first = await stack.open(key, body)
    finally:
        stack.app.state.ctx.gateway = real
    case_id = first.json()["case_id"]
    assert first.status_code == 201 and stack.pending(case_id)

    again = await stack.open(key, body)
    assert again.status_code == 200 and again.json()["case_id"] == case_id
    await until("the workflow's first store write", lambda: not stack.pending(case_id))
    assert await stack.run_id(case_id) is not None


async def test_a_case_whose_workflow_ended_is_never_started_again(stack: Stack) -> None:
    answer = await stack.open()
    case_id = answer.json()["case_id"]
    await until("the workflow's first store write", lambda: not stack.pending(case_id))
    handle = stack.client.get_workflow_handle(workflow_id_for(case_id))
    run_id = (await handle.describe()).run_id
    await handle.terminate("the test ends it")

    now = datetime.now(UTC)
    inp = CaseInput(case_id=case_id, request=kettle_request(now), received_at=now)
    assert await start_case_workflow(stack.client, TASK_QUEUE, inp, timedelta(seconds=10)) is False

    # A stale pending start (say, restored from a backup) is cleared without a second run.
    with stack.sessions.begin() as session:
        case_starts.add(session, inp, utcnow(), timedelta(0))
    relay = relay_for(stack)
    async with relay.running():
        await until("the stale start cleared", lambda: not stack.pending(case_id))
    described = await handle.describe()
    assert described.run_id == run_id and described.status == WorkflowExecutionStatus.TERMINATED


async def test_the_api_answers_after_the_wait_while_a_start_hangs_and_drains_it_at_shutdown() -> None:
    release = asyncio.Event()
    made: list[str] = []

    class HangingTemporal:
        async def start_case(self, inp: CaseInput) -> bool:
            await release.wait()
            made.append(inp.case_id)
            return True

    starts = BackgroundStarts()
    inp = CaseInput(
        case_id="C-hanging", request=kettle_request(datetime.now(UTC)), received_at=datetime.now(UTC)
    )
    await starts.start(HangingTemporal(), inp, wait=0.01)
    assert starts.in_flight == 1 and made == [], "answered while the start goes on"
    release.set()
    await starts.drain(seconds=PATIENCE)
    assert made == ["C-hanging"] and starts.in_flight == 0
