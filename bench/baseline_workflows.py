"""Baseline workflows for bench.throughput: what Temporal itself costs on this machine.

- `BenchTrivial`: one no-op activity.
- `BenchShape`: the same number of activities, local activities, timers, updates and search-attribute
  upserts as one case (counted from a case's history), with no business logic and, by default, tiny
  payloads.
  `payload_bytes` gives the store-write activities a payload of that size (a JSON-like text, which the
  codec compresses like a case view) to measure what the payload costs alone.

Timers are started and then cancelled, as a case's SLA timers are when the action arrives before the
deadline (a fired timer would only add the server's timer latency, about a second, to each run).
With updates the workflow waits for each update with a timer running, and an update returns once the
activities after it ran (a case's update returns once its effect is stored).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa


class Shape(BaseModel):
    activities: int = 1
    local_activities: int = 0
    timers: int = 0
    updates: int = 0
    upserts: int = 0
    store_writes: int = 0  # how many of the (local) activities carry `payload_bytes`
    payload_bytes: int = 0


def filler(size: int) -> str:
    """JSON-like text of `size` characters, about as compressible as a case view."""
    unit = '{"at":"2026-11-22T15:43:09Z","step":"merchant_verification","kind":"step","actor":"system"},'
    return (unit * (size // len(unit) + 1))[:size]


@activity.defn(name="bench_noop")
def noop(data: str) -> int:
    return len(data)


def _share(total: int, parts: int, index: int) -> int:
    """Split `total` into `parts` as evenly as possible; the share of part `index`."""
    return total // parts + (1 if index < total % parts else 0)


@workflow.defn(name="BenchTrivial")
class TrivialWorkflow:
    @workflow.run
    async def run(self) -> int:
        result: int = await workflow.execute_activity(noop, "x", start_to_close_timeout=timedelta(seconds=30))
        return result


@workflow.defn(name="BenchShape")
class ShapeWorkflow:
    def __init__(self) -> None:
        self.received = 0
        self.segments_done = 0

    @workflow.run
    async def run(self, shape: Shape) -> int:
        # One segment of activities (and upserts) per update, plus one; each wait for an update, and
        # each segment beyond the updates, runs with a timer pending that is then cancelled, as the
        # SLA timer of a case's step is when its action arrives.
        segments = max(shape.updates, shape.timers) + 1
        timers_left = shape.timers
        store_left = shape.store_writes
        payload = filler(shape.payload_bytes) if shape.payload_bytes else ""
        for seg in range(segments):
            timer: asyncio.Task[None] | None = None
            if seg >= shape.updates and timers_left > 0:
                timers_left -= 1
                timer = asyncio.create_task(workflow.sleep(timedelta(hours=1)))
                await asyncio.sleep(0)  # let the timer be started before the activities
            for _ in range(_share(shape.activities, segments, seg)):
                data = "x"
                if store_left > 0:
                    store_left -= 1
                    data = payload or "x"
                await workflow.execute_activity(noop, data, start_to_close_timeout=timedelta(seconds=30))
            for _ in range(_share(shape.local_activities, segments, seg)):
                data = "x"
                if store_left > 0:
                    store_left -= 1
                    data = payload or "x"
                await workflow.execute_local_activity(
                    noop, data, start_to_close_timeout=timedelta(seconds=30)
                )
            for i in range(_share(shape.upserts, segments, seg)):
                workflow.upsert_search_attributes([sa.CASE_STEP.value_set(f"bench-{seg}-{i}")])
            if timer is not None:
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
            self.segments_done = seg + 1
            if seg < shape.updates:
                timeout = None
                if timers_left > 0:
                    timers_left -= 1
                    timeout = timedelta(hours=1)
                await workflow.wait_condition(lambda seg=seg: self.received > seg, timeout=timeout)  # type: ignore[misc]
        await workflow.wait_condition(workflow.all_handlers_finished)
        return shape.activities

    @workflow.update(name="advance")
    async def advance(self) -> int:
        self.received += 1
        wanted = self.received + 1
        await workflow.wait_condition(lambda: self.segments_done >= wanted)
        return self.received
