"""The API's side of durable case starts (store/case_starts.py).

`POST /v1/cases` stores the case and a pending start in one transaction, then starts the workflow
here: it waits for the start at most `AFTERSALES_CASE_START_WAIT_SECONDS` and answers either way,
since the case is stored and its start is durable. A start that fails is logged and left to the
worker's start relay. An action on a case whose workflow has not started yet starts it first.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Protocol

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from temporalio.service import RPCError

from api.problems import Problem
from api.temporal_gateway import TemporalGateway, WorkflowNotRunning
from domain.enums import Action
from domain.models import ActionEnvelope, CaseInput, CaseView
from store import case_starts

log = logging.getLogger("api.case_starts")


class Starter(Protocol):
    async def start_case(self, inp: CaseInput) -> bool: ...


class BackgroundStarts:
    """Workflow starts the API made after its commit and has not seen end yet (one set per process)."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    async def start(self, gateway: Starter, inp: CaseInput, wait: float) -> None:
        """Start the case's workflow; return when it started or after `wait` seconds, whichever is first.
        Never raises: a start that fails stays pending in the store for the start relay."""
        task = asyncio.get_running_loop().create_task(_start(gateway, inp), name=f"start-{inp.case_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout=wait)

    async def drain(self, seconds: float) -> None:
        """At shutdown: let the starts in flight finish (the relay makes any that do not)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=seconds)

    @property
    def in_flight(self) -> int:
        return len(self._running)


async def _start(gateway: Starter, inp: CaseInput) -> None:
    try:
        await gateway.start_case(inp)
    except (RPCError, Problem) as err:
        log.warning(
            "workflow of case %s not started (%s); the worker's start relay will start it",
            inp.case_id,
            getattr(err, "message", None) or getattr(err, "detail", None) or err,
        )
    except Exception:
        log.exception("workflow of case %s not started; the worker's start relay will start it", inp.case_id)


async def start_if_pending(gateway: Starter, reads: sessionmaker[Session], case_id: str) -> bool:
    """Start the case's workflow now if its start is still pending; whether it was."""

    def pending() -> CaseInput | None:
        with reads() as session:
            return case_starts.pending(session, case_id)

    inp = await run_in_threadpool(pending)
    if inp is None:
        return False
    try:
        await gateway.start_case(inp)
    except RPCError as err:
        raise Problem(503, f"the workflow service is unavailable: {err.message}") from err
    return True


async def act(
    gateway: TemporalGateway,
    reads: sessionmaker[Session],
    case_id: str,
    action: Action,
    envelope: ActionEnvelope,
    update_id: str | None,
) -> CaseView:
    """Send an action to the case; a case whose workflow has not started yet is started first."""
    try:
        return await gateway.act(case_id, action, envelope, update_id)
    except WorkflowNotRunning:
        if not await start_if_pending(gateway, reads, case_id):
            raise
    return await gateway.act(case_id, action, envelope, update_id)
