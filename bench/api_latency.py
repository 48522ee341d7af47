"""API latency at a fixed request rate (open loop): `GET /v1/cases/{id}` and `POST /v1/cases`.

    .venv/bin/python -m bench.api_latency [--read-rate 200] [--create-rate 50] [--duration 20]
                                          [--api-workers 2] [--database-url URL] [--profile DIR]

Starts an isolated stack (bench.stack; time scale 1, so created cases wait at merchant verification),
opens `--seed-cases` cases and waits until they wait there, then, from a SECOND process
(bench.open_loop), sends requests on a fixed schedule, one phase per endpoint: request i is sent at
start + i / rate whatever the earlier answers took, and its latency is counted from that scheduled
time. A server that falls behind therefore shows its queueing in the percentiles (no coordinated
omission), and the generator's own lateness is reported beside them (`send lag p99`). The first
`--warmup` seconds of each phase are sent but not counted. Targets (issue 14): reads at 200/s with
p99 < 50 ms, creates at 50/s with p99 < 250 ms. The closed-loop saturation figures are
`bench.api_load`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench import open_loop
from bench.cases import case_body
from bench.profile import show_profile
from bench.report import ms, percentile, show
from bench.stack import (
    BenchStack,
    CpuUsage,
    add_setting_option,
    describe_machine,
    process_tree,
    stack_settings,
)

ROOT = Path(__file__).resolve().parent.parent
PHASES = {"read": "GET /v1/cases/{id}", "create": "POST /v1/cases"}
EXPECTED = {"read": 200, "create": 201}
TARGET_P99 = {"read": 0.050, "create": 0.250}  # seconds, at the default rates


@dataclass
class Phase:
    """What the generator measured in one phase (latencies in seconds, from the scheduled time)."""

    rate: float
    sent: int
    latencies: list[float]
    send_lag: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    window: float = 0.0  # seconds from the first counted scheduled time to the last counted answer
    generator_cpu: float = 0.0

    @property
    def achieved(self) -> float:
        return len(self.latencies) / self.window if self.window > 0 else 0.0

    def p(self, pct: float) -> float:
        return percentile(self.latencies, pct)


# ------------------------------------------------------------------ the generator (second process)


async def generate(mode: str, url: str, rate: float, seconds: float, warmup: float) -> Phase:
    """The second process: `rate` requests per second of one endpoint, each at its scheduled time."""
    case_ids = [c for c in os.environ.get("BENCH_CASE_IDS", "").split(",") if c]
    system = {"Authorization": f"Bearer {os.environ['BENCH_SYSTEM_KEY']}"}
    agent = {"Authorization": f"Bearer {os.environ['BENCH_AGENT_KEY']}"}
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    authority = f"{host}:{port}"
    pick = random.Random(7)

    def request(i: int) -> bytes:
        if mode == "create":
            order = f"O-LAT-{uuid.uuid4().hex[:12].upper()}"
            body = json.dumps(case_body(order)).encode()
            return open_loop.post_json("/v1/cases", authority, {**system, "Idempotency-Key": order}, body)
        return open_loop.get(f"/v1/cases/{pick.choice(case_ids)}", authority, agent)

    measured = await open_loop.run(host, port, request, EXPECTED[mode], rate, seconds, warmup)
    return Phase(rate=rate, **vars(measured))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_generator(stack: BenchStack, mode: str, args: argparse.Namespace, env: dict[str, str]) -> Phase:
    rate = args.read_rate if mode == "read" else args.create_rate
    cpu0 = children_cpu()
    out = subprocess.run(
        [sys.executable, "-m", "bench.api_latency", "--generate", mode, "--url", stack.api_url,
         "--rate", str(rate), "--duration", str(args.duration), "--warmup", str(args.warmup)],
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
        timeout=args.duration + args.warmup + 120,
    )  # fmt: skip
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Phase(**data, generator_cpu=children_cpu() - cpu0)


# ------------------------------------------------------------------ the driver


async def seed(stack: BenchStack, count: int) -> list[str]:
    """`count` cases through the API, then until each waits for the merchant (the worker is quiet)."""
    headers = {"Authorization": f"Bearer {stack.keys['system']}"}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:

        async def one(i: int) -> str:
            order = f"O-SEED-{uuid.uuid4().hex[:8].upper()}-{i}"
            r = await http.post(
                "/v1/cases", json=case_body(order), headers={**headers, "Idempotency-Key": order}
            )
            r.raise_for_status()
            return str(r.json()["case_id"])

        ids: list[str] = []
        for start in range(0, count, 10):
            ids += await asyncio.gather(*(one(i) for i in range(start, min(start + 10, count))))
        deadline = time.monotonic() + 120
        waiting: set[str] = set()
        while len(waiting) < len(ids) and time.monotonic() < deadline:
            for case_id in set(ids) - waiting:
                view = (await http.get(f"/v1/cases/{case_id}", headers=headers)).json()
                if view.get("step") == "merchant_verification":
                    waiting.add(case_id)
            await asyncio.sleep(0.2)
        return ids


def start_profilers(stack: BenchStack, directory: Path, phase: str) -> list[subprocess.Popen[bytes]]:
    """py-spy on every API process (uvicorn's supervisor and its workers); --gil: Python CPU time."""
    directory.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    profilers = []
    for pid in process_tree(stack.pid("api")):
        output = directory / f"api-{phase}-{pid}.prof"
        command = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--gil",
                   "--nonblocking", "--output", str(output)]  # fmt: skip
        profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return profilers


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(2)  # SIGINT: py-spy writes its output and exits
    for profiler in profilers:
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            profiler.kill()


def merged_profile(directory: Path, phase: str) -> Path:
    merged = directory / f"api-{phase}.prof"
    parts = sorted(directory.glob(f"api-{phase}-*.prof"))
    merged.write_text("".join(p.read_text() for p in parts))
    return merged


def bench(args: argparse.Namespace) -> int:
    extra = {"AFTERSALES_API_WORKERS": str(args.api_workers), **stack_settings(args.setting)}
    if args.key_cache is not None:
        extra["AFTERSALES_API_KEY_CACHE_SECONDS"] = str(args.key_cache)
    print(f"starting an isolated stack ({args.api_workers} API process(es)) ...", flush=True)
    results: dict[str, Phase] = {}
    cpu: dict[str, CpuUsage] = {}
    with BenchStack(database_url=args.database_url, keep=args.keep, extra_env=extra) as stack:
        print(f"  store: {stack.store_kind}", flush=True)
        print(f"seeding {args.seed_cases} cases to read ...", flush=True)
        case_ids = asyncio.run(seed(stack, args.seed_cases))
        env = {
            **stack.env,
            "BENCH_SYSTEM_KEY": stack.keys["system"],
            "BENCH_AGENT_KEY": stack.keys["agent"],
            "BENCH_CASE_IDS": ",".join(case_ids),
        }
        if args.without_worker:
            stack.stop_process("worker")  # cases are started but not run: the API and the start RPC alone
        for mode in args.phases:
            rate = args.read_rate if mode == "read" else args.create_rate
            print(f"{PHASES[mode]}: {rate:g}/s for {args.warmup:g} + {args.duration:g} s ...", flush=True)
            profilers = start_profilers(stack, args.profile, mode) if args.profile else []
            before = stack.cpu_snapshot()
            results[mode] = run_generator(stack, mode, args, env)
            after = stack.cpu_snapshot()
            stop_profilers(profilers)
            usage = stack.cpu_between(before, after)
            usage.seconds["load generator (second process)"] = results[mode].generator_cpu
            cpu[mode] = usage
            stack.check_alive()
    worker = "worker stopped after seeding; " if args.without_worker else ""
    print(
        f"\nstore: {stack.store_kind}; {args.api_workers} API process(es); {worker}open loop from a second "
        f"process; latency from each request's scheduled time; {args.warmup:g} s warm-up not counted"
    )
    show("Machine", ["what", "value"], describe_machine())
    rows = []
    for mode, r in results.items():
        target = TARGET_P99[mode]
        errors = sum(r.errors.values())
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(r.errors.items()))
        shown_errors = f"{errors} ({kinds})" if kinds else "0"
        rows.append([
            PHASES[mode], f"{r.rate:g}/s", f"{r.achieved:.1f}/s", r.sent, shown_errors,
            ms(r.p(50)), ms(r.p(90)), ms(r.p(99)), ms(max(r.latencies, default=math.nan)),
            f"< {ms(target)}", "yes" if r.p(99) < target and not errors else "no",
            ms(percentile(r.send_lag, 99)),
        ])  # fmt: skip
    show(
        "API latency at a fixed rate (open loop)",
        ["endpoint", "rate", "achieved", "requests", "errors", "p50", "p90", "p99", "max", "p99 target",
         "met", "send lag p99"],
        rows,
    )  # fmt: skip
    names: list[str] = []
    for usage in cpu.values():
        names += [n for n in usage.seconds if n not in names]
    cpu_rows: list[list[object]] = [
        [n, *(f"{100 * u.seconds.get(n, 0.0) / u.wall:.0f}%" for u in cpu.values())] for n in names
    ]
    cpu_rows.append(["other processes on the machine", *(u.rows()[-2][2] for u in cpu.values())])
    cpu_rows.append(["machine busy (of 100% x cores)", *(u.rows()[-1][2] for u in cpu.values())])
    show("CPU by process per phase (% of one core)", ["process", *(PHASES[m] for m in cpu)], cpu_rows)
    if args.profile:
        for mode in results:
            show_profile(merged_profile(args.profile, mode), f"API processes during {PHASES[mode]}")
    failed = sum(sum(r.errors.values()) for r in results.values())
    return 1 if failed > sum(r.sent for r in results.values()) * 0.01 else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api_latency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--read-rate", type=float, default=200, help="GET /v1/cases/{id} per second")
    parser.add_argument("--create-rate", type=float, default=50, help="POST /v1/cases per second")
    parser.add_argument("--duration", type=float, default=20, help="counted seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=3, help="seconds sent first and not counted")
    parser.add_argument("--seed-cases", type=int, default=50, help="cases opened first, for the reads")
    parser.add_argument(
        "--api-workers", type=int, default=2, help="AFTERSALES_API_WORKERS of the API (processes)"
    )
    parser.add_argument(
        "--phases", nargs="+", choices=list(PHASES), default=list(PHASES), help="which endpoints, in order"
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL: a scratch database is made next to it"
    )
    add_setting_option(parser)
    parser.add_argument(
        "--key-cache", type=float, default=None, help="AFTERSALES_API_KEY_CACHE_SECONDS of the API"
    )
    parser.add_argument(
        "--without-worker",
        action="store_true",
        help="stop the worker after seeding: created cases wait unstarted, so the create phase measures "
        "the API and Temporal's start RPC without the cases' first steps competing for the machine",
    )
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles of the API processes")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    parser.add_argument("--generate", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.generate:
        phase = asyncio.run(generate(args.generate, args.url, args.rate, args.duration, args.warmup))
        print(json.dumps({k: v for k, v in vars(phase).items() if k != "generator_cpu"}))
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
