"""`python -m workers.outbox`: run an outbox relay in a process of its own until SIGINT/SIGTERM.

It delivers the notifications the case workers' store writes queue, at least once, like the relay a
worker runs (set AFTERSALES_OUTBOX_RELAY_IN_WORKER=false on the workers). Out of the worker's process
its HTTP calls and store writes no longer compete with the workflow tasks for the worker's GIL.
Any number of these and of the workers' relays share the outbox safely (leases, FOR UPDATE SKIP
LOCKED). Without the workers' wake-ups it finds new messages by polling
(AFTERSALES_OUTBOX_POLL_SECONDS).
"""

from __future__ import annotations

import asyncio

from activities.provider_client import ProviderClient
from core.logging import configure_logging
from core.settings import get_settings
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from workers.outbox_relay import OutboxRelay
from workers.relay_process import run_alone


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    # Like the worker's relay: on SQLite its writes let the API's go first, and a pass that a database
    # restart broke is retried by the next one.
    engine = get_engine(settings.resolved_database_url, writes_give_way=True, callers_retry=True)
    sessions = make_session_factory(engine, vault_for(settings))
    with ProviderClient.from_settings(settings) as provider:
        relay = OutboxRelay.from_settings(settings, sessions, provider)
        await run_alone(settings, relay, relay.metrics.registry)


if __name__ == "__main__":
    asyncio.run(main())
