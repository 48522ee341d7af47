"""Determinism guard: recorded case histories must replay against the current workflow code.

Histories are recorded by the scenario tests (`RECORD_HISTORIES=1 make test`) and checked in under
tests/histories/. They are encrypted with the tests' fixed codec key, so the replayer uses it too.
A change that breaks a recorded path fails here with a NondeterminismError: guard it with
`workflow.patched`; `test_a_change_that_adds_a_command_without_patched_fails_the_replay` shows that
these tests do fail on such a change.

A calendar change (a holiday added, other working hours) cannot break a replay, by construction:
deadlines come from the calendar snapshots that the `load_calendars` activity returned, which the
history records, and the replayer runs no activity. What keeps it so is that workflow code never
reads calendar data itself: `test_workflow_code_never_imports_calendar_data` below.

The worker runs workflows outside the SDK's sandbox (workers/sandbox.py); each history is replayed
with the worker's runner and again in the SDK's default sandbox, which fails on a restricted call.
A former test here added holidays to the store and replayed; it could not fail whatever the code
did (audit item 19), so it was removed.
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.support.changed_workflow import CaseWorkflowWithAnUnpatchedTimer
from workers.build import WORKFLOWS
from workers.sandbox import case_workflow_runner, strict_sandbox_runner

# tests/histories: the current recording of each path; histories/earlier: recordings kept because
# the workflow has changed since in a way a running case must still replay (each named for it).
HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json")) + sorted(
    (Path(__file__).parent / "histories" / "earlier").glob("*.json")
)
# The happy path, however the recordings are named and versioned (v1_..., v2_..., current).
HAPPY_PATHS = [p for p in HISTORIES if "return_and_refund_resolved" in p.stem]


RUNNERS = {"worker": case_workflow_runner, "sdk_sandbox": strict_sandbox_runner}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, runner: str, converter: DataConverter) -> None:
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(path.stem, json.loads(text))
    result = await Replayer(
        workflows=WORKFLOWS, data_converter=converter, workflow_runner=RUNNERS[runner]()
    ).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_histories_cover_several_paths() -> None:
    assert len(HISTORIES) >= 3, "record histories with RECORD_HISTORIES=1 make test"
    assert HAPPY_PATHS, "no recorded return_and_refund_resolved history"


@pytest.mark.parametrize("path", HAPPY_PATHS, ids=[p.stem for p in HAPPY_PATHS])
async def test_a_change_that_adds_a_command_without_patched_fails_the_replay(
    path: Path, converter: DataConverter
) -> None:
    """The guard above can fail: the same history against a workflow that starts with a new timer."""
    history = WorkflowHistory.from_json(path.stem, json.loads(await asyncio.to_thread(path.read_text)))
    replayer = Replayer(workflows=[CaseWorkflowWithAnUnpatchedTimer], data_converter=converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)


def test_workflow_code_never_imports_calendar_data() -> None:
    """`holidays`, the snapshot builder that uses it, the store and HTTP stay out of every module of
    the workflows package: calendar data reaches a case only as an activity result."""
    modules = sorted((Path(__file__).parent.parent / "workflows").glob("*.py"))
    assert any(m.name == "case_workflow.py" for m in modules)
    forbidden = ("holidays", "domain.calendar_source", "activities.calendars", "store", "sqlalchemy", "httpx")
    for module in modules:
        tree = ast.parse(module.read_text())
        imported = {  # `from domain import calendar_source` counts as domain.calendar_source
            alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert not [name for name in imported if name.startswith(forbidden)], module.name
