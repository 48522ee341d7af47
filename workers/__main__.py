"""`python -m workers`: run one case worker, its outbox relay, its start relay and its webhook relay until
SIGINT/SIGTERM (the outbox and webhook relays may run in processes of their own instead:
`python -m workers.outbox`, `python -m workers.webhooks`)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import AsyncExitStack

from temporalio.client import Client
from temporalio.service import RPCError

from activities.provider_client import ProviderClient
from core.logging import configure_logging
from core.settings import get_settings
from core.temporal import connect
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from workers.build import build_worker
from workers.metrics import serve_metrics
from workers.outbox_relay import OutboxRelay
from workers.schedules import ensure_report_schedules
from workers.start_relay import StartRelay
from workers.webhook_relay import WebhookRelay

log = logging.getLogger("workers")

# A worker holds thousands of cached workflows, a few hundred Python objects each. With the default
# first-generation threshold (700) the cyclic collector promoted them in small steps and walked them
# again in full collections: 1.9 s of a 31 s resume of 3,000 cases, 5.4 s while opening them. A larger
# first generation lets a task's short-lived objects die young: 0.6 s and 1.1 s, memory the same
# (BENCHMARKS.md, issue 14, fourth pass).
GC_THRESHOLDS = (50_000, 20, 10)


def tune_garbage_collector() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


async def main() -> None:
    tune_garbage_collector()
    settings = get_settings()
    configure_logging(settings)
    client = await connect(settings)
    # On SQLite the worker's store writes let the API's go first (store.db.WriterLane).
    engine = get_engine(settings.resolved_database_url, writes_give_way=True, callers_retry=True)
    sessions = make_session_factory(engine, vault_for(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ProviderClient.from_settings(settings) as provider:
        relay = OutboxRelay.from_settings(settings, sessions, provider)
        hooks = WebhookRelay.from_settings(settings, sessions, relay.metrics.registry)
        starts = StartRelay.from_settings(settings, sessions, client, relay.metrics.registry)
        serve_metrics(settings, relay.metrics.registry)
        outbox_here, hooks_here = settings.outbox_relay_in_worker, settings.webhook_relay_in_worker
        worker = build_worker(
            client,
            settings,
            sessions,
            provider,
            wake_relay=relay.wake if outbox_here else None,
            wake_webhooks=hooks.wake if hooks_here else None,
        )
        await _report_schedules(client, settings.task_queue)
        log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
        if not outbox_here:
            log.info("outbox relay not in this worker: `python -m workers.outbox` delivers")
        if not hooks_here:
            log.info("webhook relay not in this worker: `python -m workers.webhooks` sends")
        # The worker stops first: no store write queues a message after the relays ended.
        try:
            async with AsyncExitStack() as relays:
                await relays.enter_async_context(starts.running())
                if outbox_here:
                    await relays.enter_async_context(relay.running())
                if hooks_here:
                    await relays.enter_async_context(hooks.running())
                async with worker:
                    await stop.wait()
        finally:
            hooks.close()
        log.info("worker stopped")


async def _report_schedules(client: Client, task_queue: str) -> None:
    """The report schedules exist wherever a worker runs; a failure is logged, the worker goes on."""
    try:
        await ensure_report_schedules(client, task_queue)
    except RPCError as err:
        log.error("report schedules not created or updated: %s", err.message)


if __name__ == "__main__":
    asyncio.run(main())
