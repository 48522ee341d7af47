"""Waiting for what the worker, the relays and the clock do on their own.

A test waits for the event it needs (a step reached, a row written, a message delivered) by asking
until the answer says so: never for a fixed time. The bound is only a safety net against a hang, so
it is the same generous one everywhere (`TEST_PATIENCE_SECONDS`, 120 s by default): a loaded CI
machine must never trip it, while a test that does trip it names what it waited for and what it saw
last. Short, per-call bounds were how a busy machine turned a slow answer into a failure.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

PATIENCE = float(os.environ.get("TEST_PATIENCE_SECONDS", "120"))
EVERY = 0.05  # between two asks: often enough to see the event at once, rare enough to cost nothing


def _gave_up(what: str, last: object) -> AssertionError:
    return AssertionError(f"never: {what} within {PATIENCE:.0f} s (last seen: {str(last)[:500]})")


async def eventually(probe: Callable[[], Awaitable[T]], ready: Callable[[T], bool], what: str) -> T:
    """The first answer of `probe()` for which `ready` holds."""
    give_up = time.monotonic() + PATIENCE
    while True:
        answer = await probe()
        if ready(answer):
            return answer
        if time.monotonic() > give_up:
            raise _gave_up(what, answer)
        await asyncio.sleep(EVERY)


async def until(what: str, ready: Callable[[], bool]) -> None:
    """Until `ready()` holds (a condition read without I/O of its own)."""

    async def probe() -> bool:
        return ready()

    await eventually(probe, bool, what)


def eventually_sync(probe: Callable[[], T], ready: Callable[[T], bool], what: str) -> T:
    """`eventually` for tests that are not coroutines."""
    give_up = time.monotonic() + PATIENCE
    while True:
        answer = probe()
        if ready(answer):
            return answer
        if time.monotonic() > give_up:
            raise _gave_up(what, answer)
        time.sleep(EVERY)
