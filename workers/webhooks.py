"""`python -m workers.webhooks`: run a webhook relay in a process of its own until SIGINT/SIGTERM.

For deployments that keep webhook sending off the case workers' CPU (set
AFTERSALES_WEBHOOK_RELAY_IN_WORKER=false there); any number of these and of the workers' relays
share the work safely (leases, FOR UPDATE SKIP LOCKED). Without the workers' wake-ups it finds new
events by polling (AFTERSALES_WEBHOOK_POLL_SECONDS).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from core.logging import configure_logging
from core.settings import get_settings
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from workers.metrics import serve_metrics
from workers.webhook_relay import WebhookRelay

log = logging.getLogger("workers.webhooks")


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    sessions = make_session_factory(get_engine(settings.resolved_database_url), vault_for(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    relay = WebhookRelay.from_settings(settings, sessions)
    serve_metrics(settings, relay.metrics.registry)
    log.info("webhook relay running")
    try:
        async with relay.running():
            await stop.wait()
    finally:
        relay.close()
    log.info("webhook relay stopped")


if __name__ == "__main__":
    asyncio.run(main())
