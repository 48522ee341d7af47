"""`python -m workers`: run one case worker until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from activities.provider_client import ProviderClient
from core.logging import configure_logging
from core.settings import get_settings
from core.temporal import connect
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from workers.build import build_worker

log = logging.getLogger("workers")


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    client = await connect(settings)
    sessions = make_session_factory(get_engine(settings.resolved_database_url), vault_for(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ProviderClient.from_settings(settings) as provider:
        worker = build_worker(client, settings, sessions, provider)
        log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
        async with worker:
            await stop.wait()
        log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
