"""The case worker passes `workflows`, `domain` and `activities.contracts` through the sandbox
(workers/sandbox.py): imported once per worker, not once per run. The sandbox then no longer guards
their module code, so this test does: none of it reads a clock, a random source, the environment or
the network, or imports calendar data (which can change between a run and its replay)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workers.sandbox import PASSED_THROUGH, case_workflow_runner

ROOT = Path(__file__).resolve().parent.parent
# Modules whose use in workflow code would make a replay differ from the run.
FORBIDDEN_IMPORTS = {"random", "time", "uuid", "os", "socket", "secrets", "httpx", "sqlalchemy", "holidays"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "fromtimestamp", "getenv"}
# Pure rules that the workflow never imports (the calendar source reads `holidays`; activities do).
NOT_IN_WORKFLOWS = {"domain/calendar_source.py"}


def passed_through_files() -> list[Path]:
    files: list[Path] = []
    for module in PASSED_THROUGH:
        if module.startswith("temporalio"):
            continue
        path = ROOT / module.replace(".", "/")
        files += sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return [f for f in files if str(f.relative_to(ROOT)) not in NOT_IN_WORKFLOWS]


def problems_in(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_IMPORTS]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_IMPORTS or node.module == "domain.calendar_source":
                found.append(f"imports from {node.module}")
        elif isinstance(node, ast.Call) and _is_forbidden_call(node.func):
            found.append(f"calls .{node.func.attr}() on line {node.lineno}")  # type: ignore[attr-defined]
    return found


def _is_forbidden_call(func: ast.expr) -> bool:
    if not isinstance(func, ast.Attribute) or func.attr not in FORBIDDEN_CALLS:
        return False
    return not (func.attr == "now" and isinstance(func.value, ast.Name) and func.value.id == "workflow")


@pytest.mark.parametrize("path", passed_through_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_passed_through_code_reads_no_clock_randomness_or_outside_world(path: Path) -> None:
    assert problems_in(path.read_text()) == []


def test_the_check_finds_what_it_looks_for() -> None:
    bad = "import random\nfrom datetime import datetime\nx = datetime.now()\nfrom holidays import CN\n"
    assert sorted(problems_in(bad)) == ["calls .now() on line 3", "imports from holidays", "imports random"]
    assert problems_in("from temporalio import workflow\nt = workflow.now()\n") == []


def test_the_worker_and_the_replayer_use_this_sandbox() -> None:
    assert "workflow_runner=case_workflow_runner()" in (ROOT / "workers" / "build.py").read_text()
    assert "case_workflow_runner()" in (ROOT / "tests" / "test_replay.py").read_text()
    assert case_workflow_runner().restrictions.passthrough_modules >= set(PASSED_THROUGH)
