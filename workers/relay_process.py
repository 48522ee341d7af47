"""A relay in a process of its own (`python -m workers.outbox`, `python -m workers.webhooks`): run it
until SIGINT/SIGTERM, its metrics served like a worker's."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from core.settings import Settings
from workers.metrics import serve_metrics
from workers.relay_loop import RelayLoop

log = logging.getLogger("workers")


async def run_alone(
    settings: Settings,
    relay: RelayLoop[Any],
    registry: CollectorRegistry,
    close: Callable[[], None] | None = None,
) -> None:
    """Run `relay` until SIGINT/SIGTERM; the pass in progress ends (and is recorded) first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serve_metrics(settings, registry)
    log.info("%s running in a process of its own", relay.relay_name)
    try:
        async with relay.running():
            await stop.wait()
    finally:
        if close is not None:
            close()
    log.info("%s stopped", relay.relay_name)
