"""Where a cached case's memory goes: tracemalloc over N waiting cases in one worker, by source.

    .venv/bin/python -m bench.case_memory [--cases 300]

Runs the case workflow in a worker inside this process against the time-skipping test server, with
the store and calendar activities replaced by in-process stand-ins that keep nothing (so what is
measured is the workflow's own memory: its sandbox, its state, its view). For each runner -- the
SDK's default sandbox (every run re-imports the workflow's modules), that sandbox with the workflow
code passed through (the worker's setup until issue 14), and the worker's own (`workers/sandbox.py`:
no sandbox) -- it starts N cases, waits until each waits at
merchant verification (its first store write arrived), and reports the memory tracemalloc saw
allocated per case, by where it was allocated (the workflow's modules, pydantic, temporalio, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from temporalio import activity
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import contracts as act
from bench.report import show
from core.settings import Settings
from core.temporal import codec_for, data_converter
from domain.calendar import CalendarSnapshot
from domain.calendar_source import build_snapshot
from domain.models import CaseDelta, CaseInput
from domain.policy import CasePolicy
from tests.support.cases import kettle_request
from tests.support.temporal import time_skipping_server
from workers.sandbox import WORKFLOW_CODE, case_workflow_runner
from workflows.case_workflow import CaseWorkflow

TOP = 20  # sources shown; the rest are summed in one row


class Counting:
    """Store and calendars that keep nothing: the first write of each case is counted, no more."""

    def __init__(self) -> None:
        self.first_writes: set[str] = set()
        self.target = 0
        self.reached = asyncio.Event()

    @activity.defn(name=act.RECORD_DELTA)
    async def record_case_delta(self, delta: CaseDelta) -> None:
        self.first_writes.add(delta.case_id)
        if len(self.first_writes) >= self.target:
            self.reached.set()

    @activity.defn(name=act.LOAD_CALENDARS)
    async def load_calendars(self, request: act.CalendarRequest) -> act.CalendarBundle:
        return act.CalendarBundle(snapshots={n: _snapshot(n, request) for n in request.names})


def _snapshot(name: str, request: act.CalendarRequest) -> CalendarSnapshot:
    return _cached(name, request.start.isoformat(), request.days)


@lru_cache(maxsize=16)
def _cached(name: str, start: str, days: int) -> CalendarSnapshot:
    first = date.fromisoformat(start)
    return build_snapshot(name, first, first + timedelta(days=days))


def where(trace: tracemalloc.Traceback) -> str:
    """Who allocated: the innermost frame of our code (workflows/, domain/) with the library it
    called into, or the library alone when none of our code is on the stack."""
    library = _library(trace[-1].filename)
    for frame in reversed(trace):
        for package in ("/workflows/", "/domain/"):
            if package in frame.filename:
                module = package.strip("/") + "/" + frame.filename.rsplit("/", 1)[-1]
                return f"{module}:{frame.lineno} via {library}"
    return library


def _library(filename: str) -> str:
    for marker, label in (
        ("/pydantic", "pydantic"),
        ("/temporalio/worker/workflow_sandbox", "temporalio sandbox"),
        ("/temporalio/", "temporalio"),
        ("<frozen importlib", "imports (module copies)"),
        ("/workflows/", "workflows/"),
        ("/domain/", "domain/"),
    ):
        if marker in filename:
            return label
    return "other"


async def measure(label: str, runner: WorkflowRunner, cases: int) -> tuple[float, Counter[str]]:
    settings = Settings()
    converter = data_converter(codec_for(settings))
    stand_in = Counting()
    activities: list[Callable[..., Any]] = [stand_in.record_case_delta, stand_in.load_calendars]
    async with time_skipping_server(converter) as env:
        queue = f"mem-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[CaseWorkflow],
            activities=activities,
            workflow_runner=runner,
            max_cached_workflows=cases + 10,
        ):
            # One case first, so that imports done once per worker are not counted per case.
            await start_and_wait(env.client, queue, stand_in, 1)
            gc.collect()
            tracemalloc.start(25)
            before = tracemalloc.take_snapshot()
            await start_and_wait(env.client, queue, stand_in, cases + 1)
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            by_where: Counter[str] = Counter()
            for stat in after.compare_to(before, "traceback"):
                by_where[where(stat.traceback)] += stat.size_diff
            total = sum(by_where.values()) / cases
            print(f"{label}: {total / 1024:.0f} KB per cached case", flush=True)
            for handle_id in list(stand_in.first_writes):
                await env.client.get_workflow_handle(f"case-{handle_id}").terminate()
            return total, by_where


async def start_and_wait(client: Any, queue: str, stand_in: Counting, total: int) -> None:
    """Start cases until `total` wait, a few at a time: under tracemalloc a worker is slow, and a
    burst of starts would time its workflow tasks out."""
    while len(stand_in.first_writes) < total:
        batch = min(5, total - len(stand_in.first_writes))
        stand_in.target = len(stand_in.first_writes) + batch
        stand_in.reached.clear()
        for _ in range(batch):
            at = datetime.now(UTC)
            case_id = f"MEM{uuid.uuid4().hex[:12].upper()}"
            inp = CaseInput(case_id=case_id, request=kettle_request(at), received_at=at, policy=CasePolicy())
            await client.start_workflow(CaseWorkflow.run, inp, id=f"case-{case_id}", task_queue=queue)
        await asyncio.wait_for(stand_in.reached.wait(), timeout=600)


PASSED_THROUGH = SandboxRestrictions.default.with_passthrough_modules(*WORKFLOW_CODE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=300, help="cases in the worker's cache (default 300)")
    args = parser.parse_args(argv)
    setups = [
        ("SDK default sandbox", SandboxedWorkflowRunner()),
        ("sandbox, workflow code passed through", SandboxedWorkflowRunner(restrictions=PASSED_THROUGH)),
        ("worker's runner (workers/sandbox.py)", case_workflow_runner()),
    ]
    results = [(label, *asyncio.run(measure(label, runner, args.cases))) for label, runner in setups]
    sources = sorted({s for _, _, by in results for s in by}, key=lambda s: -max(b[s] for _, _, b in results))
    shown, rest = sources[:TOP], sources[TOP:]
    rows = [[s, *(f"{by[s] / args.cases / 1024:.1f}" for _, _, by in results)] for s in shown]
    rows.append(
        ["(the rest)", *(f"{sum(by[s] for s in rest) / args.cases / 1024:.1f}" for _, _, by in results)]
    )
    rows.append(["total", *(f"{total / 1024:.1f}" for _, total, _ in results)])
    labels = [label for label, _, _ in results]
    show(f"KB allocated per cached case ({args.cases} cases, tracemalloc)", ["where", *labels], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
