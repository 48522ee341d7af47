"""Signals to many running cases at once: freeze, thaw and calendar changes (DESIGN §3).

The cases to reach come from the case store (`listing.open_case_workflow_ids`), not from Temporal
visibility: the store can select by region and knows a case from the moment the API accepted it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from store import listing

log = logging.getLogger(__name__)
CONCURRENCY = 20
# How a caller hands over its Temporal client: the API's is connected already, the CLI connects only
# once the change is stored (a failure to connect is then reported, not raised).
Connect = Callable[[], Awaitable[Client]]


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    signalled: int
    skipped: int  # closed meanwhile (or never started): nothing to move
    failed: int = 0  # not signalled: Temporal could not be reached or refused the signal
    error: str | None = None  # why the first one failed, or why Temporal could not be reached at all

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.error is None


async def signal_cases(
    client: Client,
    workflow_ids: Iterable[str],
    signal: str,
    arg: object = None,
    rpc_timeout: timedelta | None = None,
) -> SignalOutcome:
    """Send `signal` (with `arg` unless None) to each workflow; a finished one is skipped, not an error.

    Any other failure (Temporal unreachable or frozen, a signal refused) is counted, not raised, and
    no further signal is started after the first one: with the server down each would only wait out
    its `rpc_timeout`. The caller reports what was and was not signalled; signals are idempotent
    (freeze, thaw, calendar_changed set state), so sending all of them again completes the job.
    """
    gate = asyncio.Semaphore(CONCURRENCY)
    errors: list[str] = []

    async def one(workflow_id: str) -> str:
        async with gate:
            if errors:
                return "failed"
            handle = client.get_workflow_handle(workflow_id)
            try:
                if arg is None:
                    await handle.signal(signal, rpc_timeout=rpc_timeout)
                else:
                    await handle.signal(signal, arg, rpc_timeout=rpc_timeout)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    log.info("%s: %s not sent, the case is no longer running", workflow_id, signal)
                    return "gone"
                errors.append(f"{err.status.name if err.status else 'RPC error'}: {err.message}")
                return "failed"
            except Exception as err:  # a client that cannot connect raises RuntimeError, not RPCError
                errors.append(f"{type(err).__name__}: {err}")
                return "failed"
            return "sent"

    results = Counter(await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids)))
    if errors:
        log.warning("%s: %d case(s) not signalled: %s", signal, results["failed"], errors[0])
    return SignalOutcome(
        signalled=results["sent"],
        skipped=results["gone"],
        failed=results["failed"],
        error=errors[0] if errors else None,
    )


async def signal_open_cases(
    temporal: Connect,
    sessions: sessionmaker[Session],
    signal: str,
    arg: object = None,
    *,
    merchant_id: str | None = None,
    region: str | None = None,
    frozen: bool | None = None,
    rpc_timeout: timedelta | None = None,
) -> SignalOutcome:
    """Signal every case the store has not closed, of one merchant and/or region (None: all);
    `frozen=False` leaves out the cases a stored freeze still covers (a thaw must not resume them).
    A client that cannot be had counts every case in scope as not signalled (and the outcome as
    incomplete even with none in scope: the caller cannot know that nothing was missed)."""

    def read() -> list[str]:
        with sessions() as session:
            return listing.open_case_workflow_ids(
                session, merchant_id=merchant_id, region=region, frozen=frozen
            )

    workflow_ids = await asyncio.to_thread(read)
    try:
        client = await temporal()
    except Exception as err:  # connecting raises RuntimeError (and others), not RPCError
        log.warning("%s: Temporal could not be reached: %s", signal, err)
        return SignalOutcome(
            signalled=0, skipped=0, failed=len(workflow_ids), error=f"{type(err).__name__}: {err}"
        )
    outcome = await signal_cases(client, workflow_ids, signal, arg, rpc_timeout)
    log.info(
        "%s sent to %d case(s), %d no longer running, %d not signalled (merchant %s, region %s)",
        signal, outcome.signalled, outcome.skipped, outcome.failed, merchant_id or "any", region or "any",
    )  # fmt: skip
    return outcome
