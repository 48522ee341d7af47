"""`/readyz`: is the case store there, is Temporal there — each asked with its own short timeout.

A frozen dependency (a Temporal server under SIGSTOP, a database that accepts connections and never
answers) must make the probe answer 503 within `ready_timeout_seconds`, not hang the load balancer's
probe. A check that is still running from an earlier probe is awaited again rather than started
twice: the store check holds a thread while it waits, and a probe every second must not use up the
thread pool the routes need.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

Check = Callable[[], Coroutine[Any, Any, None]]


class Readiness:
    def __init__(self, checks: dict[str, Check], timeout: float) -> None:
        self.checks = checks
        self.timeout = timeout
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> dict[str, str]:
        """Each check's verdict: "ok", "error: <kind>" or "timed out after <n> s" (also when the
        check gave up on its own deadline, which is the same one)."""
        tasks = {name: self._task(name) for name in self.checks}
        await asyncio.wait(tasks.values(), timeout=self.timeout)
        return {name: self._verdict(task) for name, task in tasks.items()}

    def _task(self, name: str) -> asyncio.Task[None]:
        task = self._running.get(name)
        if task is None or task.done():
            task = asyncio.create_task(self.checks[name](), name=f"readiness {name}")
            task.add_done_callback(_quietly)
            self._running[name] = task
        return task

    def _verdict(self, task: asyncio.Task[None]) -> str:
        if not task.done():
            return f"timed out after {self.timeout:g} s"
        if task.cancelled():
            return "error: cancelled"
        error = task.exception()
        if isinstance(error, TimeoutError):
            return f"timed out after {self.timeout:g} s"
        return "ok" if error is None else f"error: {type(error).__name__}"


def _quietly(task: asyncio.Task[None]) -> None:
    """A check that fails after its probe answered must not log "exception never retrieved"."""
    with contextlib.suppress(asyncio.CancelledError):
        task.exception()
