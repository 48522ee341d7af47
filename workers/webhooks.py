"""`python -m workers.webhooks`: run a webhook relay in a process of its own until SIGINT/SIGTERM.

For deployments that keep webhook sending off the case workers' CPU (set
AFTERSALES_WEBHOOK_RELAY_IN_WORKER=false there); any number of these and of the workers' relays
share the work safely (leases, FOR UPDATE SKIP LOCKED). Without the workers' wake-ups it finds new
events by polling (AFTERSALES_WEBHOOK_POLL_SECONDS).
"""

from __future__ import annotations

import asyncio

from core.logging import configure_logging
from core.settings import get_settings
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from workers.relay_process import run_alone
from workers.webhook_relay import WebhookRelay


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    sessions = make_session_factory(get_engine(settings.resolved_database_url), vault_for(settings))
    relay = WebhookRelay.from_settings(settings, sessions)
    await run_alone(settings, relay, relay.metrics.registry, close=relay.close)


if __name__ == "__main__":
    asyncio.run(main())
