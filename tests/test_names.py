"""The names in domain.names are the ones the case workflow answers to: a typo on either side would be
a case that never hears a signal, or an API that maps a refusal to the wrong status."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from temporalio import workflow

from domain import names
from workflows.case_workflow import CaseWorkflow

ROOT = Path(__file__).resolve().parent.parent


def test_the_workflow_type_signals_and_queries_are_the_shared_names() -> None:
    definition = workflow._Definition.must_from_class(CaseWorkflow)
    assert definition.name == names.WORKFLOW_TYPE
    assert {names.SIGNAL_CALENDAR_CHANGED, names.SIGNAL_FREEZE, names.SIGNAL_THAW} <= set(definition.signals)
    assert {names.QUERY_CASE, names.QUERY_CLOCKS} <= set(definition.queries)


def test_every_refusal_type_the_workflow_raises_has_an_http_status() -> None:
    """`type=WRONG_STEP` or `type=names.WRONG_STEP` in any module of workflows/: each constant named
    must be a refusal the API maps to a status."""
    raised: set[str] = set()
    for path in sorted((ROOT / "workflows").glob("*.py")):
        module = importlib.import_module(f"workflows.{path.stem}")
        for name in re.findall(r"\btype=(?:[A-Za-z_]+\.)?([A-Z][A-Z_]+)\b", path.read_text()):
            raised.add(getattr(names, name, None) or getattr(module, name))
    assert raised and raised <= set(names.HTTP_STATUS_OF_REFUSAL)


def test_refund_keys_and_workflow_ids_are_made_in_one_place() -> None:
    assert names.refund_key("AS20261122K7Q3XZ2M", 2) == "AS20261122K7Q3XZ2M-refund-2"
    assert names.workflow_id_for("AS20261122K7Q3XZ2M") == "case-AS20261122K7Q3XZ2M"
    for package in ("api", "activities", "store", "services", "cli"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert "def refund_key" not in text and "def workflow_id_for" not in text, path
            assert "-refund-{" not in text and 'f"case-{' not in text, path
