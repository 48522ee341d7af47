"""The case worker runs workflow code (`workflows`, `domain`, `activities.contracts`) outside the SDK's
sandbox (workers/sandbox.py), so this test guards it: none of it reads a clock, a random source, the
environment, a file or the network, or imports calendar data (which can change between a run and its
replay). The replay tests add the runtime check: every history replays in the SDK's sandbox too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner

from workers.sandbox import WORKFLOW_CODE, case_workflow_runner

ROOT = Path(__file__).resolve().parent.parent
# Modules whose use in workflow code would make a replay differ from the run.
FORBIDDEN_IMPORTS = {
    "random", "time", "uuid", "os", "socket", "secrets", "httpx", "sqlalchemy", "holidays",
    "subprocess", "threading", "pathlib", "urllib", "psycopg2", "store",
}  # fmt: skip
# Builtins that read the outside world.
FORBIDDEN_BUILTINS = {"open", "input", "print"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "fromtimestamp", "getenv"}
# Pure rules that the workflow never imports (the calendar source reads `holidays`; activities do).
NOT_IN_WORKFLOWS = {"domain/calendar_source.py"}


def passed_through_files() -> list[Path]:
    files: list[Path] = []
    for module in WORKFLOW_CODE:
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
        elif isinstance(node, ast.Call) and _is_forbidden_builtin(node.func):
            found.append(f"calls {node.func.id}() on line {node.lineno}")  # type: ignore[attr-defined]
    return found


def _is_forbidden_builtin(func: ast.expr) -> bool:
    return isinstance(func, ast.Name) and func.id in FORBIDDEN_BUILTINS


def _is_forbidden_call(func: ast.expr) -> bool:
    if not isinstance(func, ast.Attribute) or func.attr not in FORBIDDEN_CALLS:
        return False
    return not (func.attr == "now" and isinstance(func.value, ast.Name) and func.value.id == "workflow")


@pytest.mark.parametrize("path", passed_through_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_passed_through_code_reads_no_clock_randomness_or_outside_world(path: Path) -> None:
    assert problems_in(path.read_text()) == []


def test_the_check_finds_what_it_looks_for() -> None:
    bad = "import random\nfrom datetime import datetime\nx = datetime.now()\nfrom holidays import CN\n"
    bad += "open('f')\n"
    assert sorted(problems_in(bad)) == [
        "calls .now() on line 3",
        "calls open() on line 5",
        "imports from holidays",
        "imports random",
    ]
    assert problems_in("from temporalio import workflow\nt = workflow.now()\n") == []


def test_the_worker_runs_what_the_replay_tests_replay_and_they_also_replay_in_the_sandbox() -> None:
    assert "workflow_runner=case_workflow_runner()" in (ROOT / "workers" / "build.py").read_text()
    replay_tests = (ROOT / "tests" / "test_replay.py").read_text()
    assert "case_workflow_runner" in replay_tests and "strict_sandbox_runner" in replay_tests
    assert isinstance(case_workflow_runner(), UnsandboxedWorkflowRunner)
