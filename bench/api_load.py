"""API load: requests/s and p50/p99 latency of `GET /v1/cases/{id}` and `POST /v1/cases`.

    .venv/bin/python -m bench.api_load [--users 50] [--duration 20] [--database-url URL]

Starts an isolated stack (bench.stack; time scale 1, so created cases wait at merchant verification),
opens `--seed-cases` cases to read, then loads the API from a SECOND process, one phase per endpoint:
`GET /v1/cases/{id}` (reads the store), then `POST /v1/cases` (writes the store and starts a workflow).

The load generator is locust (headless, `bench/locustfile.py`, CSV parsed) when it is installed
(`pip install -e '.[bench]'`), otherwise a Python process with httpx and `--users` concurrent
connections; the output says which. Prints the CPU each process used per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.cases import case_body
from bench.report import ms, percentile, show
from bench.stack import BenchStack, CpuUsage, describe_machine

ROOT = Path(__file__).resolve().parent.parent
PHASES = {"read": "GET /v1/cases/{id}", "create": "POST /v1/cases"}


@dataclass
class Result:
    requests: int
    failures: int
    per_second: float
    p50: float  # seconds
    p99: float
    generator_cpu: float


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_locust(stack: BenchStack, mode: str, users: int, seconds: int, env: dict[str, str]) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "run")
        cpu0 = children_cpu()
        subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", stack.api_url,
                "--csv", prefix, "--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0",
            ],
            env={**env, "BENCH_API_MODE": mode, "PYTHONPATH": str(ROOT)},
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=seconds + 120,
        )  # fmt: skip
        cpu = children_cpu() - cpu0
        with open(f"{prefix}_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == PHASES[mode])
    return Result(
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        per_second=float(row["Requests/s"]),
        p50=float(row["50%"]) / 1000,
        p99=float(row["99%"]) / 1000,
        generator_cpu=cpu,
    )


def run_httpx(stack: BenchStack, mode: str, users: int, seconds: int, env: dict[str, str]) -> Result:
    cpu0 = children_cpu()
    out = subprocess.run(
        [sys.executable, "-m", "bench.api_load", "--generate", mode, "--url", stack.api_url,
         "--users", str(users), "--duration", str(seconds)],
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )  # fmt: skip
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Result(**data, generator_cpu=children_cpu() - cpu0)


async def generate(mode: str, url: str, users: int, seconds: int) -> dict[str, float | int]:
    """The fallback load generator (a second process): `users` connections as fast as they can."""
    case_ids = [c for c in os.environ.get("BENCH_CASE_IDS", "").split(",") if c]
    system = {"Authorization": f"Bearer {os.environ['BENCH_SYSTEM_KEY']}"}
    agent = {"Authorization": f"Bearer {os.environ['BENCH_AGENT_KEY']}"}
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        end = time.monotonic() + seconds

        async def user(n: int) -> None:
            nonlocal failures
            i = 0
            while time.monotonic() < end:
                i += 1
                t0 = time.monotonic()
                if mode == "create":
                    order = f"O-LOAD-{uuid.uuid4().hex[:12].upper()}"
                    r = await http.post(
                        "/v1/cases", json=case_body(order), headers={**system, "Idempotency-Key": order}
                    )
                    ok = r.status_code == 201
                else:
                    r = await http.get(f"/v1/cases/{case_ids[(n + i) % len(case_ids)]}", headers=agent)
                    ok = r.status_code == 200
                latencies.append(time.monotonic() - t0)
                failures += 0 if ok else 1

        began = time.monotonic()
        await asyncio.gather(*(user(n) for n in range(users)))
        wall = time.monotonic() - began
    return {
        "requests": len(latencies),
        "failures": failures,
        "per_second": len(latencies) / wall,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


async def seed(stack: BenchStack, count: int) -> list[str]:
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
        return ids


def bench(args: argparse.Namespace) -> int:
    use_locust = args.generator == "locust" or (
        args.generator == "auto" and importlib.util.find_spec("locust") is not None
    )
    generator = "locust (headless, second process)" if use_locust else "httpx (second Python process)"
    print(f"starting an isolated stack ... (load generator: {generator})", flush=True)
    results: dict[str, Result] = {}
    cpu: dict[str, CpuUsage] = {}
    extra = {} if args.key_cache is None else {"AFTERSALES_API_KEY_CACHE_SECONDS": str(args.key_cache)}
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
        for mode in ("read", "create"):
            print(f"{PHASES[mode]}: {args.users} users for {args.duration} s ...", flush=True)
            before = stack.cpu_snapshot()
            runner = run_locust if use_locust else run_httpx
            results[mode] = runner(stack, mode, args.users, args.duration, env)
            after = stack.cpu_snapshot()
            usage = stack.cpu_between(before, after)
            usage.seconds["load generator (second process)"] = results[mode].generator_cpu
            cpu[mode] = usage
            stack.check_alive()
    cache = "default (10 s)" if args.key_cache is None else f"{args.key_cache:g} s"
    print(f"\nstore: {stack.store_kind}; load generator: {generator}; {args.users} users; key cache {cache}")
    show("Machine", ["what", "value"], describe_machine())
    show(
        "API load",
        ["endpoint", "requests", "failures", "requests/s", "p50", "p99"],
        [
            [PHASES[m], r.requests, r.failures, f"{r.per_second:.1f}", ms(r.p50), ms(r.p99)]
            for m, r in results.items()
        ],
    )
    names: list[str] = []
    for usage in cpu.values():
        names += [n for n in usage.seconds if n not in names]
    rows: list[list[object]] = [
        [n, *(f"{100 * u.seconds.get(n, 0.0) / u.wall:.0f}%" for u in cpu.values())] for n in names
    ]
    rows.append(["machine busy (of 100% x cores)", *(u.rows()[-1][2] for u in cpu.values())])
    show("CPU by process per phase (% of one core)", ["process", *(PHASES[m] for m in cpu)], rows)
    failed = sum(r.failures for r in results.values())
    return 1 if failed > sum(r.requests for r in results.values()) * 0.01 else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=50, help="concurrent users (connections)")
    parser.add_argument("--duration", type=int, default=20, help="seconds per endpoint")
    parser.add_argument("--seed-cases", type=int, default=50, help="cases opened first, for the reads")
    parser.add_argument(
        "--generator", choices=["auto", "locust", "httpx"], default="auto", help="auto: locust if installed"
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL: a scratch database is made next to it"
    )
    parser.add_argument(
        "--key-cache",
        type=float,
        default=None,
        help="AFTERSALES_API_KEY_CACHE_SECONDS of the API (0: look every key up in the store)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    parser.add_argument("--generate", choices=["read", "create"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.generate:
        print(json.dumps(asyncio.run(generate(args.generate, args.url, args.users, args.duration))))
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
