"""Throughput: complete return-and-refund cases through the HTTP API, against baselines, in one run.

    .venv/bin/python -m bench.throughput [--cases 60] [--concurrency 20] [--database-url URL]

Starts an isolated stack (bench.stack: Temporal dev server, simulator, case worker, API, and the
baseline worker on its own task queue, all tuned alike), then runs, in this order:

1. a warm-up case, whose history gives the shape of one case (activities, timers, updates, upserts);
2. trivial workflows (one no-op activity) started with the Temporal client;
3. same-shape workflows: that many no-op activities, local activities and timers, no business logic;
4. same-shape workflows with the case's updates and search-attribute upserts too, the updates sent by
   this process through the Temporal client;
5. N `return_and_refund` cases, K in flight, every human step sent through the HTTP API as the
   README's "Walk a case to resolved" does (merchant-response, proposal, customer-decision,
   return-shipment, return-delivered, inspection, survey).

A case counts as complete when the survey is accepted and the case is closed `resolved` (the
workflow then stays open for the appeal window, 15 days / time scale). Prints throughput, latencies,
and the CPU each process used in each phase (from /proc/<pid>/stat), which says what limits throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from bench.baseline_workflows import Shape
from bench.cases import STEPS, case_body
from bench.cost_per_case import count_events
from bench.profile import show_profile
from bench.report import Progress, ms, percentile, show
from bench.stack import (
    BASELINE_QUEUE,
    BenchStack,
    CpuUsage,
    add_setting_option,
    describe_machine,
    stack_settings,
)
from core.temporal import connect

ROW_TRIVIAL = "trivial workflow (1 no-op activity)"
ROW_SHAPE = "same-shape workflow (activities + timers)"
ROW_SHAPE_FULL = "same-shape + updates + SA upserts"
ROW_CASE = "return_and_refund case via the API"


@dataclass
class CaseStats:
    start: list[float] = field(default_factory=list)  # POST /v1/cases
    ready: list[float] = field(default_factory=list)  # created -> waiting for the merchant
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # polling GETs
    actions: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    whole: list[float] = field(default_factory=list)  # POST /v1/cases -> closed
    retries: Counter[str] = field(default_factory=Counter)
    polls: int = 0  # GET /v1/cases/{id} sent while waiting for a step
    case_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class CaseDriver:
    def __init__(self, http: httpx.AsyncClient, keys: dict[str, str], tag: str) -> None:
        self.http, self.keys, self.tag = http, keys, tag

    def headers(self, role: str, idem: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.keys[role]}"}
        if idem:
            out["Idempotency-Key"] = idem
        return out

    async def run(self, index: int, stats: CaseStats) -> None:
        order = f"O-{self.tag}-{index:05d}"
        began = time.monotonic()
        response = await self.http.post(
            "/v1/cases", json=case_body(order), headers=self.headers("system", f"bench-{order}")
        )
        stats.start.append(time.monotonic() - began)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/cases: {response.status_code} {response.text[:300]}")
        case_id = response.json()["case_id"]
        stats.case_ids.append(case_id)
        created = time.monotonic()
        step = response.json()["step"]
        last: dict[str, Any] = {}
        for role, path, payload, at in STEPS:
            if step != at:
                # The case is still working (review, refund): wait as a shop front would, reading the case.
                waited = time.monotonic()
                step = await self.wait_for_step(case_id, at, stats)
                stats.waits[path].append(time.monotonic() - waited)
            if path == STEPS[0][1]:
                stats.ready.append(time.monotonic() - created)
            idem = f"{case_id}-{path}"
            for attempt in range(100):
                t0 = time.monotonic()
                answer = await self.http.post(
                    f"/v1/cases/{case_id}/{path}", json=payload, headers=self.headers(role, idem)
                )
                if answer.status_code == 200:
                    stats.actions[path].append(time.monotonic() - t0)
                    last = answer.json()
                    step = last["step"]
                    break
                if answer.status_code in (409, 504, 503) and attempt < 99:
                    stats.retries[f"{path} {answer.status_code}"] += 1
                    await asyncio.sleep(0.1)
                    continue
                raise RuntimeError(f"{path} on {case_id}: {answer.status_code} {answer.text[:300]}")
        if last.get("status") != "closed" or last.get("close_reason") != "resolved":
            raise RuntimeError(f"case {case_id} ended {last.get('status')} {last.get('close_reason')}")
        stats.whole.append(time.monotonic() - began)

    async def wait_for_step(self, case_id: str, step: str, stats: CaseStats, patience: float = 120) -> str:
        began = time.monotonic()
        while True:
            view = await self.http.get(f"/v1/cases/{case_id}", headers=self.headers("agent"))
            stats.polls += 1
            if view.status_code == 200 and view.json()["step"] == step:
                return step
            if time.monotonic() - began > patience:
                raise RuntimeError(f"case {case_id} never reached {step}: {view.text[:300]}")
            await asyncio.sleep(0.05)


async def run_many(
    what: str, total: int, concurrency: int, one: Callable[[int], Awaitable[None]], failures: list[str]
) -> float:
    """Run `one(i)` for i < total with `concurrency` in flight; returns the wall time."""
    progress = Progress(what, total)
    queue = iter(range(total))
    began = time.monotonic()

    async def lane() -> None:
        for i in queue:
            try:
                await one(i)
            except Exception as err:  # reported, the run goes on
                failures.append(f"{what} #{i}: {err}")
            progress.tick()

    await asyncio.gather(*(lane() for _ in range(min(concurrency, total))))
    return time.monotonic() - began


@dataclass
class HistoryFacts:
    counts: dict[str, int]
    history_bytes: int
    store_inputs_encoded: list[int]
    store_inputs_decoded: list[int]


async def history_facts(client: Client, workflow_id: str) -> HistoryFacts:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    counts = count_events(history.to_json_dict()["events"])
    encoded: list[int] = []
    decoded: list[int] = []
    codec = client.data_converter.payload_codec
    for event in history.events:
        attrs = event.activity_task_scheduled_event_attributes
        if attrs.activity_type.name == "record_case_progress":
            payloads: list[Payload] = list(attrs.input.payloads)
            encoded.append(sum(p.ByteSize() for p in payloads))
            plain = await codec.decode(payloads) if codec else payloads
            decoded.append(sum(p.ByteSize() for p in plain))
    return HistoryFacts(counts, sum(e.ByteSize() for e in history.events), encoded, decoded)


def cpu_table(phases: dict[str, CpuUsage]) -> None:
    names: list[str] = []
    for usage in phases.values():
        names += [n for n in usage.seconds if n not in names]
    rows: list[list[object]] = []
    for name in names:
        row: list[object] = [name]
        for usage in phases.values():
            secs = usage.seconds.get(name, 0.0)
            row.append(f"{100 * secs / usage.wall:.0f}%")
        rows.append(row)
    rows.append(["other processes on the machine", *(u.rows()[-2][2] for u in phases.values())])
    rows.append(["machine busy (of 100% x cores)", *(u.rows()[-1][2] for u in phases.values())])
    show(
        "CPU by process per phase (% of one core; /proc/<pid>/stat utime+stime)",
        ["process", *phases],
        rows,
    )


PROFILED = ("worker", "api")


async def start_profiler(pid: int, output: Path) -> asyncio.subprocess.Process:
    """py-spy on one process; --gil samples only the thread holding the GIL (Python CPU time)."""
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format", "raw",
        "--rate", "100", "--gil", "--nonblocking", "--output", str(output),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def bench(args: argparse.Namespace) -> int:
    print(f"starting an isolated stack (time scale {args.time_scale}) ...", flush=True)
    with BenchStack(
        database_url=args.database_url,
        time_scale=args.time_scale,
        baseline_worker=True,
        keep=args.keep,
        bytecode_cache=args.pycache,
        extra_env=stack_settings(args.setting),
    ) as stack:
        print(f"  store: {stack.store_kind}; state in {stack.dir}", flush=True)
        client = await connect(stack.s)
        limits = httpx.Limits(
            max_connections=2 * args.concurrency, max_keepalive_connections=2 * args.concurrency
        )
        tag = f"B{uuid.uuid4().hex[:6].upper()}"
        phases: dict[str, CpuUsage] = {}
        walls: dict[str, float] = {}
        runs: dict[str, int] = {}
        failures: list[str] = []
        async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=60) as http:
            driver = CaseDriver(http, stack.keys, tag)

            print("warm-up case (its history gives the shape of one case) ...", flush=True)
            warm = CaseStats()
            await driver.run(99999, warm)
            facts = await history_facts(client, f"case-{warm.case_ids[0]}")
            c = facts.counts
            shape_plain = Shape(activities=c["activities"], local_activities=c["local"], timers=c["timers"])
            shape_full = Shape(
                activities=c["activities"],
                local_activities=c["local"],
                timers=c["timers"],
                updates=c["updates"],
                upserts=c["upserts"],
                store_writes=c["store"],
                payload_bytes=args.shape_payload_bytes,
            )
            baseline_runs = args.baseline if args.baseline is not None else args.cases

            async def trivial(i: int) -> None:
                await client.execute_workflow(
                    "BenchTrivial", id=f"trivial-{tag}-{i}", task_queue=BASELINE_QUEUE
                )

            async def shaped(shape: Shape, prefix: str, i: int) -> None:
                handle = await client.start_workflow(
                    "BenchShape", shape, id=f"{prefix}-{tag}-{i}", task_queue=BASELINE_QUEUE
                )
                for _ in range(shape.updates):
                    await handle.execute_update("advance", result_type=int)
                await handle.result()

            stats = CaseStats()
            plan: list[tuple[str, int, Callable[[int], Awaitable[None]]]] = [
                (ROW_TRIVIAL, 4 * baseline_runs, trivial),
                (ROW_SHAPE, baseline_runs, lambda i: shaped(shape_plain, "shape", i)),
                (ROW_SHAPE_FULL, baseline_runs, lambda i: shaped(shape_full, "shapefull", i)),
                (ROW_CASE, args.cases, lambda i: driver.run(i, stats)),
            ]
            profilers: list[asyncio.subprocess.Process] = []
            for name, total, one in plan:
                print(f"{name}: {total} runs, {args.concurrency} in flight ...", flush=True)
                if name == ROW_CASE and args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profilers = [
                        await start_profiler(stack.pid(p), args.profile / f"{p}.prof") for p in PROFILED
                    ]
                before = stack.cpu_snapshot()
                walls[name] = await run_many(name, total, args.concurrency, one, failures)
                phases[name] = stack.cpu_between(before, stack.cpu_snapshot())
                runs[name] = total - sum(1 for f in failures if f.startswith(name))
                stack.check_alive()
                for profiler in profilers:
                    profiler.send_signal(2)  # SIGINT: py-spy writes its output and exits
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(profiler.wait(), 30)
            await asyncio.sleep(0)

        report(args, stack.store_kind, facts, walls, runs, phases, stats, failures)
        if args.profile:
            for p in PROFILED:
                await asyncio.to_thread(
                    show_profile, args.profile / f"{p}.prof", f"{p} during the case phase"
                )
        return 1 if failures else 0


def _latency(what: str, values: list[float]) -> list[object]:
    return [what, len(values), ms(percentile(values, 50)), ms(percentile(values, 99))]


def report(
    args: argparse.Namespace,
    store_kind: str,
    facts: HistoryFacts,
    walls: dict[str, float],
    runs: dict[str, int],
    phases: dict[str, CpuUsage],
    stats: CaseStats,
    failures: list[str],
) -> None:
    c = facts.counts
    rate = {n: runs[n] / walls[n] if walls[n] else math.nan for n in walls}
    print(
        f"\nstore: {store_kind}; time scale {args.time_scale}; concurrency {args.concurrency}; "
        f"bytecode cache {'on' if args.pycache else 'as the environment says'}"
    )
    show("Machine", ["what", "value"], describe_machine())
    enc, dec = facts.store_inputs_encoded, facts.store_inputs_decoded
    show(
        "Shape of one case (warm-up case history)",
        ["activities", "local activities", "of which store writes", "timers", "updates", "SA upserts",
         "events", "billable actions", "history KB", "store write input (avg, encoded / decoded)"],
        [[c["activities"], c["local"], c["store"], c["timers"], c["updates"], c["upserts"], c["events"],
          c["actions"],
          f"{facts.history_bytes / 1024:.0f}",
          f"{sum(enc) / len(enc):.0f} B / {sum(dec) / len(dec):.0f} B" if enc else "local: not in history"]],
    )  # fmt: skip
    rows: list[list[object]] = []
    for name in walls:
        rows.append([name, runs[name], f"{walls[name]:.1f} s", f"{rate[name]:.2f}", phases[name].top()])
    show("Throughput", ["workload", "completed", "wall", "per second", "busiest process"], rows)
    case_rate = rate[ROW_CASE]
    show(
        "Ratios (time per case ÷ time per baseline workflow)",
        ["comparison", "value"],
        [
            ["case / trivial workflow", f"{rate[ROW_TRIVIAL] / case_rate:.1f}x"],
            ["case / same-shape workflow", f"{rate[ROW_SHAPE] / case_rate:.1f}x"],
            ["case / same-shape + updates + upserts", f"{rate[ROW_SHAPE_FULL] / case_rate:.1f}x"],
        ],
    )
    all_actions = [v for values in stats.actions.values() for v in values]
    latency_rows = [
        _latency("case start (POST /v1/cases)", stats.start),
        _latency("created -> waiting for the merchant", stats.ready),
        _latency("any action (POST /v1/cases/{id}/<action>)", all_actions),
    ]
    for _, path, _, _ in STEPS:
        latency_rows.append(_latency(f"  {path}", stats.actions.get(path, [])))
    for path, values in stats.waits.items():
        if path != STEPS[0][1]:
            latency_rows.append(_latency(f"wait (GET polling) before {path}", values))
    latency_rows.append(_latency("whole case (start to closed)", stats.whole))
    show("Case latencies", ["what", "n", "p50", "p99"], latency_rows)
    cpu_table(phases)
    retries = ", ".join(f"{k}: {v}" for k, v in stats.retries.most_common()) or "none"
    show(
        "Run",
        ["what", "value"],
        [
            ["total wall time of the measured phases", f"{sum(walls.values()):.1f} s"],
            ["action retries (409/503/504)", retries],
            ["polling GETs per case (waiting for a step)", f"{stats.polls / max(1, len(stats.whole)):.1f}"],
            ["failures", len(failures)],
        ],
    )
    for failure in failures[:10]:
        print(f"FAILED: {failure}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", type=int, default=60, help="complete cases to run (default 60)")
    parser.add_argument(
        "--concurrency", type=int, default=20, help="cases (and baseline workflows) in flight"
    )
    parser.add_argument(
        "--baseline",
        type=int,
        default=None,
        help="runs of each same-shape baseline (default: --cases; trivial 4x)",
    )
    parser.add_argument(
        "--time-scale", type=int, default=3600, help="AFTERSALES_POLICY_TIME_SCALE of the stack"
    )
    parser.add_argument(
        "--shape-payload-bytes",
        type=int,
        default=0,
        help="payload of each store-write activity of the same-shape + updates baseline (default 0: tiny)",
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL: a scratch database is made next to it"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="directory for py-spy profiles of the worker and the API during the case phase (summarised)",
    )
    parser.add_argument(
        "--pycache",
        action="store_true",
        help="a bytecode cache for the stack (PYTHONDONTWRITEBYTECODE unset; cache in the temp dir)",
    )
    add_setting_option(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
