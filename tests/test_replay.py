"""Determinism guard: recorded case histories must replay against the current workflow code.

Histories are recorded by the scenario tests (`RECORD_HISTORIES=1 make test`) and checked in under
tests/histories/. They are encrypted with the tests' fixed codec key, so the replayer uses it too.
A change that breaks a recorded path fails here with a NondeterminismError: guard it with
`workflow.patched`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workflows.case_workflow import CaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, converter: DataConverter) -> None:
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(path.stem, json.loads(text))
    result = await Replayer(workflows=[CaseWorkflow], data_converter=converter).replay_workflow(
        history, raise_on_replay_failure=True
    )
    assert result.replay_failure is None


def test_histories_cover_several_paths() -> None:
    assert len(HISTORIES) >= 1, "record histories with RECORD_HISTORIES=1 make test"
