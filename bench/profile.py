"""Summaries of a py-spy raw (collapsed stacks) profile: where a Python process spends its CPU.

    .venv/bin/python -m bench.profile worker.prof

Two views of the busy samples (idle threads waiting in select/queues are left out):
- by area: which part of the process the stack is in (store-write activity, provider activities,
  workflow activations, API routes, ...), the first area of the list that a frame names;
- by kind of work: the innermost frame that names a library (codec, pydantic, SQLAlchemy, ...).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from bench.report import show

AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("store-write activity (record_progress)", ("activities/case_store.py",)),
    ("calendar activity", ("activities/calendars.py",)),
    ("provider activities (refund, label, notify)", ("activities/providers.py",)),
    ("activity plumbing (SDK)", ("temporalio/worker/_activity.py",)),
    ("workflow activations (sandbox, workflow code, payloads)", ("temporalio/worker/_workflow.py",)),
    ("workflow activations (sandbox, workflow code, payloads)", ("workflow_sandbox",)),
    ("API: POST /v1/cases", ("create_case (api/routes_cases.py",)),
    ("API: actions (Temporal updates)", ("_action_route.<locals>.act", "temporal_gateway.py")),
    ("API: reads (GET)", ("get_case (api/routes_cases.py", "_owned_row")),
    ("API: auth (key lookup)", ("api/auth.py",)),
    ("API: FastAPI / Starlette / uvicorn", ("fastapi/", "starlette/", "uvicorn/")),
]
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("payload codec (compress + AES-GCM)", ("core/codec.py", "zlib", "cryptography/")),
    ("JSON", ("json/",)),
    ("pydantic (validate / dump)", ("pydantic/", "pydantic_core")),
    ("SQLAlchemy / database driver", ("sqlalchemy/", "sqlite3", "psycopg2")),
    ("HTTP client (httpx, httpcore)", ("httpx/", "httpcore/", "h11/")),
    ("payload visitor / protobuf", ("bridge/_visitor.py", "_command_aware_visitor", "google/protobuf")),
    ("workflow sandbox (imports, restrictions)",
     ("workflow_sandbox/_importer", "workflow_sandbox/_restrictions", "importlib")),
    ("case workflow and domain code", ("workflows/", "domain/")),
    ("store code", ("store/",)),
    ("Temporal SDK (other)", ("temporalio/",)),
    ("asyncio", ("asyncio/",)),
]  # fmt: skip
IDLE_LEAVES = ("selectors.py", "threading.py", "concurrent/futures/thread.py", "queue.py")


def _load(raw: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit() and stack:
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _match(frame: str, table: list[tuple[str, tuple[str, ...]]]) -> str | None:
    for label, needles in table:
        if any(n in frame for n in needles):
            return label
    return None


def summarise(raw: Path) -> tuple[list[list[object]], list[list[object]], int, int]:
    """(rows by area, rows by kind, busy samples, all samples)."""
    areas: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    busy = total = 0
    if not raw.exists():
        return [], [], 0, 0
    for frames, n in _load(raw):
        total += n
        leaf = frames[-1]
        if not leaf.strip() or any(idle in leaf for idle in IDLE_LEAVES):
            continue
        busy += n
        areas[
            next((label for label, needles in AREAS if any(n in f for f in frames for n in needles)), "other")
        ] += n
        kinds[next((k for f in reversed(frames) if (k := _match(f, KINDS))), "other")] += n

    def rows(counter: Counter[str]) -> list[list[object]]:
        return [[label, f"{100 * n / busy:.0f}%"] for label, n in counter.most_common()] if busy else []

    return rows(areas), rows(kinds), busy, total


def show_profile(raw: Path, whose: str) -> None:
    by_area, by_kind, busy, total = summarise(raw)
    if not busy:
        print(f"(no profile samples in {raw})")
        return
    show(
        f"{whose}: busy samples by area ({busy} of {total} samples busy)",
        ["area", "share of busy samples"],
        by_area,
    )
    show(f"{whose}: busy samples by kind of work (innermost frame)", ["kind", "share"], by_kind)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    for path in argv:
        show_profile(Path(path), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
