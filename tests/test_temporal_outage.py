"""Temporal frozen or unreachable (audit item 17): `/readyz` answers 503 within its own timeout, and an
admin change that must reach running cases answers 503 problem+json saying what is stored and how many
cases were and were not told; repeating it completes it. Never a 500, never a hang."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.readiness import Readiness
from core.settings import Settings
from devstack.__main__ import port_open
from services.case_signals import SignalOutcome, signal_cases
from store import freezes
from tests.support.cases import kettle_request
from tests.support.cases import open_case as open_case_row
from tests.support.servers import free_port, run_uvicorn
from tests.support.temporal import binary, connect_when_healthy
from tests.support.waiting import PATIENCE, eventually_sync, until
from tests.test_calendar_admin import case_when, merchant_due, open_case
from tests.test_calendar_admin import frozen as is_frozen

Case = dict[str, Any]
BUSINESS_HOURS = "/v1/admin/calendars/business/hours"


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ servers to break


def start_dev_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [binary("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
         "--port", str(port), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
async def private_temporal() -> AsyncIterator[tuple[subprocess.Popen[bytes], Client]]:
    """A dev server of our own, so a test can freeze it (SIGSTOP) without touching the shared one."""
    port = free_port()
    proc = start_dev_server(port)
    try:
        await until("the private dev server listening", lambda: port_open("127.0.0.1", port))
        client = await connect_when_healthy(f"127.0.0.1:{port}")
        yield proc, client
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def frozen(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """The process stopped as by `kill -STOP`: connections open, nothing answers. `kill` returns
    before every thread has stopped (a busy machine may let one finish a request first), so this
    waits until the kernel shows each thread of the process stopped."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        wait_until_stopped(proc.pid)
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def wait_until_stopped(pid: int) -> None:
    """Until every thread of `pid` is in state T (stopped) in /proc."""

    def states() -> list[str | None]:
        return [_thread_state(stat) for stat in Path(f"/proc/{pid}/task").glob("*/stat")]

    def stopped(seen: list[str | None]) -> bool:
        return bool(seen) and all(state in ("T", "t") for state in seen if state is not None)

    eventually_sync(states, stopped, f"process {pid} stopped")


def _thread_state(stat: Path) -> str | None:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0]  # the field after "(comm)"
    except (OSError, IndexError):
        return None  # the thread ended meanwhile


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel does) and never answers: a frozen database."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


async def unreachable_temporal() -> Client:
    """A client for a port nothing listens on (it connects lazily, so it can be made at all)."""
    return await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)


# ------------------------------------------------------------------ readiness


async def test_readyz_answers_503_within_its_own_timeout_while_temporal_is_frozen(
    private_temporal: tuple[subprocess.Popen[bytes], Client], settings: Settings
) -> None:
    proc, client = private_temporal
    app = create_app(settings.model_copy(update={"ready_timeout_seconds": 2}), client=client)
    with run_uvicorn(app) as url:
        # The client's own timeout is far longer: only the readiness setting can end the probe.
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            answers: list[int] = []

            async def ready() -> None:
                answers.clear()
                while not answers or answers[-1] != 200:
                    answers.append((await http.get("/readyz")).status_code)

            await asyncio.wait_for(
                ready(), PATIENCE
            )  # ready first (a loaded machine may take a probe or two)
            with frozen(proc):
                probe = await http.get("/readyz")
                again = await http.get("/readyz")
            for answer in (probe, again):
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                # Its own deadline ends the probe: as a timeout, or as the RPC's error at that deadline.
                assert answer.json()["checks"]["temporal"] in ("timed out after 2 s", "error: RPCError")
                assert "temporal" in answer.json()["detail"]
            await asyncio.wait_for(ready(), PATIENCE)  # thawed: ready again, by itself


async def test_readyz_answers_503_within_its_own_timeout_while_the_store_does_not_answer(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    with silent_listener() as port:
        store = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/frozen"
        app = create_app(
            settings.model_copy(update={"ready_timeout_seconds": 0.5, "database_url": store}),
            client=dev_env.client,
        )
        with run_uvicorn(app) as url:
            async with httpx.AsyncClient(base_url=url, timeout=20) as http:
                answers = [await http.get("/readyz") for _ in range(2)]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        # Only the store's answer is asserted: how fast Temporal answers depends on the machine's load.
        assert answer.json()["checks"]["database"] == "timed out after 0.5 s"


async def test_a_check_still_running_is_awaited_again_not_started_twice() -> None:
    """A hung store check holds a thread: a probe every second must not start one more each time."""
    started = 0
    never = asyncio.Event()

    async def hangs() -> None:
        nonlocal started
        started += 1
        await never.wait()

    async def fine() -> None:
        return None

    readiness = Readiness({"database": hangs, "temporal": fine}, timeout=0.05)
    first, second = await readiness.run(), await readiness.run()
    assert first == second == {"database": "timed out after 0.05 s", "temporal": "ok"}
    assert started == 1
    never.set()
    await until("the hung check to end", lambda: readiness._running["database"].done())
    assert (await readiness.run())["database"] == "ok" and started == 2


# ------------------------------------------------------------------ admin changes that signal cases


@pytest.fixture
async def cut_off_api(settings: Settings) -> AsyncIterator[str]:
    """The API on the shared store whose Temporal cannot be reached (nothing listens on its port)."""
    app = create_app(
        settings.model_copy(update={"task_queue": "api-tests"}), client=await unreachable_temporal()
    )
    with run_uvicorn(app) as url:
        yield url


def assert_not_signalled(answer: httpx.Response, stored: str, signalled: int, not_signalled: int) -> Case:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: Case = answer.json()
    assert problem["type"] == "/problems/cases-not-signalled"
    assert stored in problem["stored"] and stored in problem["detail"]
    assert (problem["signalled"], problem["not_signalled"]) == (signalled, not_signalled)
    assert "repeat the same request" in problem["detail"].lower()
    assert answer.headers["retry-after"]
    return problem


async def test_a_freeze_while_temporal_is_unreachable_is_stored_reported_503_and_completed_by_a_repeat(
    api_url: str, cut_off_api: str, keys: dict[str, str]
) -> None:
    region = unique("CN-OFF")
    freeze = {"region": region, "reason": "Spring Festival"}
    async with (
        httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers(keys["supervisor"])) as api,
        httpx.AsyncClient(base_url=cut_off_api, timeout=30, headers=headers(keys["supervisor"])) as cut_off,
    ):
        cases = [await open_case(api, keys["system"], unique("M-OFF"), region) for _ in range(2)]
        for case_id in cases:
            await case_when(api, case_id, lambda c: bool(c["sla"]))

        problem = assert_not_signalled(await cut_off.post("/v1/admin/freeze", json=freeze), region, 0, 2)
        assert problem["scope"] == f"region {region}"
        in_force = (await cut_off.get("/v1/admin/freezes")).json()
        assert any(f["region"] == region for f in in_force), "the freeze is stored"
        views = [(await api.get(f"/v1/cases/{case_id}")).json() for case_id in cases]
        assert not any(is_frozen(view) for view in views), "no case was told"

        repeated = await api.post("/v1/admin/freeze", json=freeze)
        assert repeated.status_code == 200 and repeated.json()["signalled"] == 2, repeated.text
        for case_id in cases:
            await case_when(api, case_id, is_frozen)

        problem = assert_not_signalled(await cut_off.post("/v1/admin/thaw", json=freeze), region, 0, 2)
        assert problem["still_frozen"] == 0
        assert all(f["region"] != region for f in (await cut_off.get("/v1/admin/freezes")).json())
        repeated = await api.post("/v1/admin/thaw", json=freeze)
        assert repeated.status_code == 200 and repeated.json()["signalled"] == 2, repeated.text
        for case_id in cases:
            await case_when(api, case_id, lambda c: not is_frozen(c))


async def test_calendar_changes_cut_off_from_temporal_answer_503_and_a_repeat_completes_them(
    api_url: str, cut_off_api: str, keys: dict[str, str]
) -> None:
    merchant = unique("M-CAL")
    mornings = {
        "weekly": {d: ["09:00-12:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "merchant_id": merchant,
    }
    async with (
        httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers(keys["supervisor"])) as api,
        httpx.AsyncClient(base_url=cut_off_api, timeout=30, headers=headers(keys["supervisor"])) as cut_off,
    ):
        case_id = await open_case(api, keys["system"], merchant)
        standard = merchant_due(await case_when(api, case_id, lambda c: merchant_due(c) is not None))

        assert_not_signalled(await cut_off.put(BUSINESS_HOURS, json=mornings), merchant, 0, 1)
        shown = (await cut_off.get("/v1/calendars/business/hours", params={"merchant_id": merchant})).json()
        assert shown["source"] == "merchant", "the hours are stored"
        assert merchant_due((await api.get(f"/v1/cases/{case_id}")).json()) == standard, "not signalled"
        repeated = await api.put(BUSINESS_HOURS, json=mornings)
        assert repeated.status_code == 200 and repeated.json()["cases"]["signalled"] == 1
        moved = merchant_due(await case_when(api, case_id, lambda c: merchant_due(c) != standard))

        cleared = await cut_off.delete(BUSINESS_HOURS, params={"merchant_id": merchant})
        assert_not_signalled(cleared, merchant, 0, 1)
        repeated = await api.delete(BUSINESS_HOURS, params={"merchant_id": merchant})
        assert repeated.status_code == 200, repeated.text
        assert repeated.json()["removed"] is False and repeated.json()["cases"]["signalled"] == 1
        assert merchant_due(await case_when(api, case_id, lambda c: merchant_due(c) != moved)) == standard

        holiday = {"date": standard.date().isoformat() if standard else "", "merchant_id": merchant}
        added = await cut_off.post("/v1/admin/calendars/business/overrides", json=holiday)
        assert_not_signalled(added, holiday["date"], 0, 1)
        repeated = await api.post("/v1/admin/calendars/business/overrides", json=holiday)
        assert repeated.status_code == 201 and repeated.json()["signalled"] == 1, repeated.text
        later = merchant_due(await case_when(api, case_id, lambda c: merchant_due(c) != standard))
        assert standard is not None and later is not None and later.date() > standard.date()


async def test_a_freeze_while_temporal_is_frozen_answers_503_within_the_rpc_timeout(
    private_temporal: tuple[subprocess.Popen[bytes], Client],
    settings: Settings,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    """A frozen server never answers a signal: the RPC timeout (1 s here), not luck, ends the request."""
    proc, client = private_temporal
    region = unique("CN-ICE")
    now = datetime.now(UTC)
    for _ in range(3):
        request = kettle_request(now)
        open_case_row(
            sessions,
            request.model_copy(update={"order": request.order.model_copy(update={"region": region})}),
            now,
        )
    app = create_app(settings.model_copy(update={"workflow_rpc_timeout_seconds": 1.0}), client=client)
    try:
        with run_uvicorn(app) as url, frozen(proc):
            async with httpx.AsyncClient(
                base_url=url, timeout=60, headers=headers(keys["supervisor"])
            ) as http:
                answer = await http.post("/v1/admin/freeze", json={"region": region})
        problem = assert_not_signalled(answer, region, 0, 3)
        assert "DEADLINE_EXCEEDED" in problem["detail"] or "CANCELLED" in problem["detail"], problem
    finally:
        with sessions.begin() as session:
            freezes.end_freeze(session, None, region)


class FlakyHandle:
    def __init__(self, client: FlakyClient, workflow_id: str) -> None:
        self.client, self.workflow_id = client, workflow_id

    async def signal(self, name: str, *args: object, rpc_timeout: object = None) -> None:
        self.client.asked.append(self.workflow_id)
        outcome = self.client.outcomes.get(self.workflow_id)
        if outcome is not None:
            raise outcome


class FlakyClient:
    """Answers signals as scripted per workflow id; records who was asked."""

    def __init__(self, outcomes: dict[str, Exception]) -> None:
        self.outcomes = outcomes
        self.asked: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> FlakyHandle:
        return FlakyHandle(self, workflow_id)


async def test_signalling_stops_at_the_first_failure_and_counts_what_was_and_was_not_sent() -> None:
    flaky = FlakyClient(
        {
            "case-2": RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""),
            "case-3": RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""),
        }
    )
    ids = [f"case-{n}" for n in range(1, 7)]
    outcome = await signal_cases(cast(Client, flaky), ids, "freeze", "Spring Festival")
    assert outcome == SignalOutcome(signalled=1, skipped=1, failed=4, error="UNAVAILABLE: connection refused")
    assert flaky.asked == ["case-1", "case-2", "case-3"]  # nothing more once Temporal failed
    assert not outcome.complete


async def test_a_client_that_cannot_connect_counts_every_case_as_not_signalled() -> None:
    outcome = await signal_cases(await unreachable_temporal(), ["case-1", "case-2"], "thaw")
    assert (outcome.signalled, outcome.skipped, outcome.failed) == (0, 0, 2)
    assert outcome.error is not None and "connect" in outcome.error
