"""Temporal frozen or unreachable (audit item 17): `/readyz` answers 503 within its own timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing, contextmanager

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.readiness import Readiness
from core.settings import Settings
from devstack.__main__ import port_open
from tests.support.servers import free_port, run_uvicorn
from tests.support.temporal import binary


async def wait_for(what: str, ready: Callable[[], bool], seconds: float = 60) -> None:
    """Until `ready()` holds; the bound is only a safety net."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not ready():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        await asyncio.sleep(0.05)


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
        await wait_for("the private dev server listening", lambda: port_open("127.0.0.1", port))
        client = await Client.connect(f"127.0.0.1:{port}")
        yield proc, client
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def frozen(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """The process stopped as by `kill -STOP`: connections open, nothing answers."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel does) and never answers: a frozen database."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


# ------------------------------------------------------------------ readiness


async def test_readyz_answers_503_within_its_own_timeout_while_temporal_is_frozen(
    private_temporal: tuple[subprocess.Popen[bytes], Client], settings: Settings
) -> None:
    proc, client = private_temporal
    app = create_app(settings.model_copy(update={"ready_timeout_seconds": 0.5}), client=client)
    with run_uvicorn(app) as url:
        # The client's own timeout is far longer: only the readiness setting can end the probe.
        async with httpx.AsyncClient(base_url=url, timeout=20) as http:
            assert (await http.get("/readyz")).status_code == 200
            with frozen(proc):
                probe = await http.get("/readyz")
                again = await http.get("/readyz")
            for answer in (probe, again):
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert answer.json()["checks"] == {"database": "ok", "temporal": "timed out after 0.5 s"}
                assert "temporal timed out after 0.5 s" in answer.json()["detail"]

            answers: list[int] = []

            async def ready_again() -> None:
                while not answers or answers[-1] != 200:
                    answers.append((await http.get("/readyz")).status_code)

            await asyncio.wait_for(ready_again(), 30)  # thawed: ready again, by itself


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
        assert answer.json()["checks"] == {"database": "timed out after 0.5 s", "temporal": "ok"}


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
    await wait_for("the hung check to end", lambda: readiness._running["database"].done())
    assert (await readiness.run())["database"] == "ok" and started == 2
