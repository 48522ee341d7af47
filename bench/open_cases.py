"""Open cases: memory with many cases waiting on timers, and how fast a new worker resumes them.

    .venv/bin/python -m bench.open_cases [--cases 10000] [--concurrency 100] [--database-url URL]
                                         [--cached-workflows N] [--pycache]

Starts an isolated stack (bench.stack, time scale 1), then:

1. opens `--cases` return-and-refund cases the way the API does, but without the HTTP hop: this
   process writes each case row with the store's `create_case` (in batches) and starts the workflow
   with the API's own `TemporalGateway.start_case` (same input, policy, search attributes, summaries);
2. waits until every case waits at merchant verification (a 24-working-hour limit: a durable timer),
   reading the store;
3. measures the resident memory (VmRSS) of the worker and of the Temporal dev server;
4. stops the worker (SIGTERM), starts a new one and sends every case the workflow query `case`
   through the Temporal client, which makes the new worker replay each workflow from its history;
   reports the time until all answered and the new worker's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.ids import new_case_id
from api.routes_cases import _initial_view
from api.temporal_gateway import TemporalGateway, workflow_id_for
from bench.cases import case_body
from bench.report import Progress, show
from bench.stack import BenchStack, describe_machine, rss_mb
from core.temporal import connect
from domain.models import CaseInput, CaseRequest
from domain.policy import DEFAULT_POLICY
from store import cases
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from store.models import CaseRow

BATCH = 250
ROW_WAITING = "all cases waiting at merchant verification"
ROW_RESUMED = "all cases answered a query on the new worker"


def insert_cases(sessions: sessionmaker[Session], tag: str, first: int, count: int) -> list[CaseInput]:
    """What the API does before it starts a workflow, for a batch: the case rows, then the inputs."""
    now = datetime.now(UTC)
    inputs = []
    with sessions.begin() as session:
        for i in range(first, first + count):
            request = CaseRequest.model_validate(case_body(f"O-{tag}-{i:06d}"))
            case_id = new_case_id(now)
            view = _initial_view(case_id, request, now)
            cases.create_case(session, case_id, workflow_id_for(case_id), None, request, view)
            inputs.append(CaseInput(case_id=case_id, request=request, received_at=now, policy=DEFAULT_POLICY))
    return inputs


def count_waiting(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(CaseRow).where(CaseRow.step == "merchant_verification")
        return int(session.execute(query).scalar_one())


async def open_all(
    stack: BenchStack, client: Client, sessions: sessionmaker[Session], total: int, concurrency: int
) -> tuple[float, list[str]]:
    gateway = TemporalGateway(client, stack.s.task_queue, 60)
    tag = f"OPEN{int(time.time()) % 100000}"
    progress = Progress("started", total)
    sem = asyncio.Semaphore(concurrency)
    ids: list[str] = []

    async def start(inp: CaseInput) -> None:
        async with sem:
            for attempt in range(5):
                try:
                    await gateway.start_case(inp)
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(1)
            ids.append(inp.case_id)
            progress.tick()

    began = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    for first in range(0, total, BATCH):
        inputs = await asyncio.to_thread(insert_cases, sessions, tag, first, min(BATCH, total - first))
        pending |= {asyncio.create_task(start(inp)) for inp in inputs}
        # Keep the store inserts at most a couple of batches ahead of the starts.
        while len(pending) > 2 * BATCH:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*pending)
    return time.monotonic() - began, ids


async def wait_all_waiting(sessions: sessionmaker[Session], total: int, stack: BenchStack) -> None:
    shown = 0.0
    began = time.monotonic()
    while True:
        waiting = await asyncio.to_thread(count_waiting, sessions)
        if time.monotonic() - shown >= 10 or waiting >= total:
            shown = time.monotonic()
            print(
                f"  waiting at merchant verification: {waiting}/{total} ({shown - began:.0f} s)", flush=True
            )
        if waiting >= total:
            return
        stack.check_alive()
        await asyncio.sleep(2)


async def query_all(client: Client, ids: list[str], concurrency: int) -> tuple[float, int]:
    progress = Progress("answered", len(ids))
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(case_id: str) -> None:
        nonlocal failures
        async with sem:
            handle = client.get_workflow_handle(workflow_id_for(case_id))
            for attempt in range(5):
                try:
                    await handle.query("case")
                    break
                except Exception:
                    if attempt == 4:
                        failures += 1
                    await asyncio.sleep(0.5)
            progress.tick()

    began = time.monotonic()
    await asyncio.gather(*(one(c) for c in ids))
    return time.monotonic() - began, failures


async def bench(args: argparse.Namespace) -> int:
    print("starting an isolated stack (time scale 1, no API) ...", flush=True)
    extra = (
        {"AFTERSALES_WORKER_MAX_CACHED_WORKFLOWS": str(args.cached_workflows)}
        if args.cached_workflows
        else {}
    )
    with BenchStack(
        database_url=args.database_url,
        api=False,
        keep=args.keep,
        bytecode_cache=args.pycache,
        extra_env=extra,
    ) as stack:
        print(f"  store: {stack.store_kind}", flush=True)
        client = await connect(stack.s)
        sessions = make_session_factory(get_engine(stack.s.resolved_database_url), vault_for(stack.s))
        rss_before = {"worker": rss_mb(stack.pid("worker")), "temporal": rss_mb(stack.pid("temporal"))}
        print(f"opening {args.cases} cases ({args.concurrency} starts in flight) ...", flush=True)
        cpu0 = stack.cpu_snapshot()
        began = time.monotonic()
        start_wall, ids = await open_all(stack, client, sessions, args.cases, args.concurrency)
        await wait_all_waiting(sessions, args.cases, stack)
        waiting_wall = time.monotonic() - began
        cpu_open = stack.cpu_between(cpu0, stack.cpu_snapshot())
        await asyncio.sleep(2)
        rss_waiting = {"worker": rss_mb(stack.pid("worker")), "temporal": rss_mb(stack.pid("temporal"))}

        print("stopping the worker (SIGTERM) and starting a new one ...", flush=True)
        stop_wall = await asyncio.to_thread(stack.stop_process, "worker")
        stack.spawn("worker", [sys.executable, "-m", "workers"])
        cpu1 = stack.cpu_snapshot()
        resume_wall, failures = await query_all(client, ids, args.concurrency)
        cpu_resume = stack.cpu_between(cpu1, stack.cpu_snapshot())
        rss_after = {"worker": rss_mb(stack.pid("worker")), "temporal": rss_mb(stack.pid("temporal"))}
        store_kind = stack.store_kind

    n = len(ids)
    print(
        f"\nstore: {store_kind}; bytecode cache {'on' if args.pycache else 'as the environment says'}; "
        f"worker sticky cache {args.cached_workflows or 'default (1000)'} workflows; "
        "cases opened with the Temporal client and the store directly, not the API"
    )
    show("Machine", ["what", "value"], describe_machine())
    show(
        "Open cases",
        ["what", "cases", "wall", "per second", "busiest process"],
        [
            ["workflow starts (store row + start)", n, f"{start_wall:.1f} s", f"{n / start_wall:.1f}", "-"],
            [ROW_WAITING, n, f"{waiting_wall:.1f} s", f"{n / waiting_wall:.1f}", cpu_open.top()],
            [ROW_RESUMED, n - failures, f"{resume_wall:.1f} s", f"{n / resume_wall:.1f}", cpu_resume.top()],
        ],
    )

    def mem(name: str) -> list[str]:
        return [f"{rss_before[name]:.0f} MB", f"{rss_waiting[name]:.0f} MB", f"{rss_after[name]:.0f} MB"]

    show(
        "Memory (VmRSS)",
        ["process", "idle stack", f"{n} cases waiting", "new worker after resuming all"],
        [["worker", *mem("worker")], ["temporal dev server", *mem("temporal")]],
    )
    rows: list[list[object]] = []
    for name in cpu_open.seconds:
        rows.append(
            [
                name,
                f"{100 * cpu_open.seconds[name] / cpu_open.wall:.0f}%",
                f"{100 * cpu_resume.seconds.get(name, 0.0) / cpu_resume.wall:.0f}%",
            ]
        )
    rows.append(["machine busy (of 100% x cores)", cpu_open.rows()[-1][2], cpu_resume.rows()[-1][2]])
    show("CPU by process (% of one core)", ["process", "opening", "resuming"], rows)
    show(
        "Run",
        ["what", "value"],
        [["old worker's graceful stop", f"{stop_wall:.1f} s"], ["query failures", failures]],
    )
    return 1 if failures else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.open_cases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", type=int, default=10_000, help="cases to open (default 10000)")
    parser.add_argument("--concurrency", type=int, default=100, help="starts and queries in flight")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL: a scratch database is made next to it"
    )
    parser.add_argument(
        "--pycache",
        action="store_true",
        help="a bytecode cache for the stack (PYTHONDONTWRITEBYTECODE unset; cache in the temp dir)",
    )
    parser.add_argument(
        "--cached-workflows",
        type=int,
        default=None,
        help="the worker's sticky cache size (AFTERSALES_WORKER_MAX_CACHED_WORKFLOWS; default 1000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(bench(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
