"""Determinism guard: recorded case histories must replay against the current workflow code.

Histories are recorded by the scenario tests (`RECORD_HISTORIES=1 make test`) and checked in under
tests/histories/. They are encrypted with the tests' fixed codec key, so the replayer uses it too.
A change that breaks a recorded path fails here with a NondeterminismError: guard it with
`workflow.patched`.
"""

from __future__ import annotations

import ast
import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from store import repository
from store.models import CalendarOverrideRow
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
    assert len(HISTORIES) >= 3, "record histories with RECORD_HISTORIES=1 make test"


async def test_a_case_recorded_before_a_holiday_was_added_still_replays(
    converter: DataConverter, sessions: sessionmaker[Session]
) -> None:
    """Deadlines come from the calendar snapshot in the history (an activity result), never from
    calendar data read during replay: adding a holiday on a day the recorded case counted on
    changes nothing for the replay."""
    path = HISTORIES[0]
    history_json = json.loads(await asyncio.to_thread(path.read_text))
    with sessions.begin() as session:
        for day in range(1, 31):
            repository.add_calendar_override(
                session, "business", None, date(2026, 11, day), "closed", "replay test"
            )
    try:
        history = WorkflowHistory.from_json(path.stem, history_json)
        result = await Replayer(workflows=[CaseWorkflow], data_converter=converter).replay_workflow(history)
        assert result.replay_failure is None
    finally:
        with sessions.begin() as session:
            session.execute(delete(CalendarOverrideRow).where(CalendarOverrideRow.note == "replay test"))


def test_workflow_code_never_imports_calendar_data() -> None:
    """`holidays` (and the snapshot builder that uses it) stay out of the workflow sandbox."""
    source = (Path(__file__).parent.parent / "workflows" / "case_workflow.py").read_text()
    tree = ast.parse(source)
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(
        name.startswith(("holidays", "domain.calendar_source", "sqlalchemy", "httpx")) for name in imported
    )
