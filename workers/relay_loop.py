"""The loop both relays of a worker run (the outbox relay, the webhook relay): pass after pass in a
thread, at once again after a busy pass, else on a wake (thread-safe, from the activity that just
committed; the relay then gathers the writes right behind it for a moment) or the poll; a store that
cannot be reached is logged once per outage and polled again."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Generic, Self, TypeVar

Pass = TypeVar("Pass")


def doubling_backoff(failures: int, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after the n-th failed attempt: base × 2^(n−1), at most `cap`. No jitter: the schedule
    is predictable, and relays spread out anyway because each claims distinct rows."""
    return min(base * 2 ** min(max(failures - 1, 0), 32), cap)


def waited_seconds(now: datetime, oldest: datetime | None) -> float:
    """How long the oldest waiting row has waited (0 when none waits): a backlog gauge's value."""
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


class RelayLoop(ABC, Generic[Pass]):
    #: how the relay names itself in logs and in its asyncio task
    relay_name: str

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bell: asyncio.Event | None = None
        self._stopping = False
        self._failing = False
        self._log = logging.getLogger(type(self).__module__)

    @abstractmethod
    def run_once(self) -> Pass:
        """One pass over the store; raises when the store cannot be reached."""

    @abstractmethod
    def busy(self, done: Pass) -> bool:
        """Whether the pass left work for another pass right away."""

    @abstractmethod
    def poll_seconds(self) -> float:
        """How long an idle relay waits for a wake before it looks again."""

    def gather_seconds(self) -> float:
        """How long a woken relay waits before its pass, so that the store writes right behind the
        one that woke it are sent in the same pass (one claim and one record for several)."""
        return 0.0

    def wake(self) -> None:
        """Pass now instead of at the next poll. Thread-safe; a no-op while the relay is not running."""
        loop, bell = self._loop, self._bell
        if loop is None or bell is None:
            return
        with suppress(RuntimeError):  # the loop closed meanwhile: the next relay polls anyway
            loop.call_soon_threadsafe(bell.set)

    async def run(self) -> None:
        """Pass after pass until `stop()`: at once after a busy pass, else on a wake or the poll."""
        self._loop, self._bell = asyncio.get_running_loop(), asyncio.Event()
        try:
            while not self._stopping:
                self._bell.clear()  # a wake during the pass below runs another pass right after it
                done = await asyncio.to_thread(self._pass_logged)
                if done is not None and self.busy(done):
                    continue
                woken = False
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds()):
                        woken = await self._bell.wait()
                if woken and not self._stopping and self.gather_seconds() > 0:
                    await asyncio.sleep(self.gather_seconds())
        finally:
            self._loop = self._bell = None

    def stop(self) -> None:
        """End `run()` after the pass in progress (what is being sent is recorded first)."""
        self._stopping = True
        self.wake()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Run the relay in the background while the block runs (the worker and the test fixtures)."""
        self._stopping = False
        task = asyncio.create_task(self.run(), name=self.relay_name.replace(" ", "-"))
        try:
            yield self
        finally:
            self.stop()
            await task

    def _pass_logged(self) -> Pass | None:
        try:
            done = self.run_once()
        except Exception:
            if not self._failing:
                self._log.warning("%s cannot reach the case store; retrying", self.relay_name, exc_info=True)
            self._failing = True
            return None
        if self._failing:
            self._log.info("%s reaches the case store again", self.relay_name)
        self._failing = False
        return done
