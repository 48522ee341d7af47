"""The benchmarks run end to end at tiny sizes and print their tables (no timing is asserted).

Each bench starts its own isolated stack (temp dir, free ports); with DATABASE_URL set they use a
scratch PostgreSQL database next to it, as `--database-url` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # benchmarks run as processes, most with a stack of their own

ROOT = Path(__file__).resolve().parent.parent


def run_bench(module: str, *args: str, timeout: float = 120) -> str:
    extra = ["--database-url", os.environ["DATABASE_URL"]] if os.environ.get("DATABASE_URL") else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_")}
    done = subprocess.run(
        [sys.executable, "-m", module, *args, *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def rows_of(output: str, title: str) -> list[list[str]]:
    """The rows of the Markdown table under `### title` (header and separator left out)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"### {title}"))
    table: list[list[str]] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            if table:
                break
            continue
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table[2:]


@pytest.mark.parametrize(
    "module",
    ["bench.throughput", "bench.api_load", "bench.api_latency", "bench.open_cases", "bench.reports_scale"],
)
def test_help(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage:" in done.stdout


def test_throughput_runs_cases_and_baselines() -> None:
    out = run_bench("bench.throughput", "--cases", "3", "--concurrency", "3", "--baseline", "2")
    names = [row[0] for row in rows_of(out, "Throughput")]
    assert names == [
        "trivial workflow (1 no-op activity)",
        "same-shape workflow (activities + timers)",
        "same-shape + updates + SA upserts",
        "return_and_refund case via the API",
    ]
    assert all(row[1] != "0" for row in rows_of(out, "Throughput"))
    ratios = [row[0] for row in rows_of(out, "Ratios")]
    assert ratios == [
        "case / trivial workflow",
        "case / same-shape workflow",
        "case / same-shape + updates + upserts",
    ]
    latencies = {row[0]: row for row in rows_of(out, "Case latencies")}
    assert latencies["case start (POST /v1/cases)"][1] == "3"
    assert latencies["any action (POST /v1/cases/{id}/<action>)"][1] == "21"
    cpu = [row[0] for row in rows_of(out, "CPU by process")]
    assert {"temporal", "worker", "api", "simulator", "baseline worker"} <= set(cpu)
    shape = rows_of(out, "Shape of one case")[0]
    # (local) activities: the store writes and provider calls; 7 human steps = 7 updates
    assert int(shape[0]) + int(shape[1]) > 0 and int(shape[4]) == 7


def test_api_load_reads_and_creates() -> None:
    out = run_bench("bench.api_load", "--duration", "5", "--users", "5", "--seed-cases", "3")
    rows = {row[0]: row for row in rows_of(out, "API load")}
    assert set(rows) == {"GET /v1/cases/{id}", "POST /v1/cases"}
    assert all(int(row[1]) > 0 for row in rows.values())
    assert "load generator:" in out


def test_api_latency_sends_on_a_schedule_from_a_second_process() -> None:
    out = run_bench(
        "bench.api_latency", "--duration", "2", "--warmup", "0.5", "--read-rate", "20", "--create-rate", "5",
        "--seed-cases", "3", "--api-workers", "2",
    )  # fmt: skip
    rows = {row[0]: row for row in rows_of(out, "API latency at a fixed rate (open loop)")}
    assert set(rows) == {"GET /v1/cases/{id}", "POST /v1/cases"}
    assert rows["GET /v1/cases/{id}"][3] == "40" and rows["POST /v1/cases"][3] == "10"  # rate x duration
    assert all(row[4] == "0" for row in rows.values()), rows  # no errors
    cpu = [row[0] for row in rows_of(out, "CPU by process per phase")]
    assert {"api", "load generator (second process)", "temporal", "worker"} <= set(cpu)
    assert "2 API process(es)" in out


def test_open_cases_waits_and_resumes() -> None:
    out = run_bench("bench.open_cases", "--cases", "20", "--concurrency", "10")
    rows = {row[0]: row for row in rows_of(out, "Open cases")}
    assert rows["all cases waiting at merchant verification"][1] == "20"
    assert rows["all cases answered a query on the new worker"][1] == "20"
    memory = [row[0] for row in rows_of(out, "Memory (VmRSS)")]
    assert memory == ["worker", "temporal dev server"]
