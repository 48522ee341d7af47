"""How this worker defines an activity: cancelling it never raises into the thread that runs it.

The SDK raises `CancelledError` into a synchronous activity's thread when the activity is cancelled
(a local activity past its timeout, a workflow evicted in the middle of a task, the worker stopping),
at whatever bytecode the thread is running. Landing between taking SQLite's writer turn and recording
it, or inside SQLAlchemy's return of a connection to the pool, it leaked the turn, and every later
write of the process waited forever: `bench.open_cases` with 3,000 cases on the embedded store had 3
of them waiting at merchant verification after ten minutes, the machine idle (BENCHMARKS.md, issue 14).
A lock, a pool or a half-sent request is not safe against an exception from nowhere; so no activity here
gets one. They are short (store transactions, HTTP calls with timeouts) and idempotent: a cancelled one
runs to its end and the SDK drops its result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import activity

F = TypeVar("F", bound=Callable[..., Any])


def defn(*, name: str) -> Callable[[F], F]:
    """`activity.defn(name=...)`, with no exception raised into the activity's thread on cancel."""
    return activity.defn(name=name, no_thread_cancel_exception=True)
