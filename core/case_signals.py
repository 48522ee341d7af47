"""Signals to many running cases at once: freeze, thaw and calendar changes (DESIGN §3).

The cases to reach come from the case store (`repository.open_case_workflow_ids`), not from Temporal
visibility: the store can select by region and knows a case from the moment the API accepted it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from store import repository

log = logging.getLogger(__name__)
CONCURRENCY = 20


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    signalled: int
    skipped: int  # closed meanwhile (or never started): nothing to move


async def signal_cases(
    client: Client, workflow_ids: Iterable[str], signal: str, arg: object = None
) -> SignalOutcome:
    """Send `signal` (with `arg` unless None) to each workflow; a finished one is skipped, not an error."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(workflow_id: str) -> bool:
        async with gate:
            handle = client.get_workflow_handle(workflow_id)
            try:
                if arg is None:
                    await handle.signal(signal)
                else:
                    await handle.signal(signal, arg)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                log.info("%s: %s not sent, the case is no longer running", workflow_id, signal)
                return False
            return True

    results = await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids))
    sent = sum(results)
    return SignalOutcome(signalled=sent, skipped=len(results) - sent)


async def signal_open_cases(
    client: Client,
    sessions: sessionmaker[Session],
    signal: str,
    arg: object = None,
    *,
    merchant_id: str | None = None,
    region: str | None = None,
    frozen: bool | None = None,
) -> SignalOutcome:
    """Signal every case the store has not closed, of one merchant and/or region (None: all);
    `frozen=False` leaves out the cases a stored freeze still covers (a thaw must not resume them)."""

    def read() -> list[str]:
        with sessions() as session:
            return repository.open_case_workflow_ids(
                session, merchant_id=merchant_id, region=region, frozen=frozen
            )

    outcome = await signal_cases(client, await asyncio.to_thread(read), signal, arg)
    log.info(
        "%s sent to %d case(s), %d no longer running (merchant %s, region %s)",
        signal, outcome.signalled, outcome.skipped, merchant_id or "any", region or "any",
    )  # fmt: skip
    return outcome
