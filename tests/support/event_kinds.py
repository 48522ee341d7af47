"""The event kinds the workflow code writes, read from its source (calls of `.event("<kind>", ...)`)."""

from __future__ import annotations

import ast
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
# workflows/waits.py names these by the assignment action, not by a literal.
BY_ACTION = frozenset({"claimed", "assigned", "released"})


def kinds_the_workflow_writes() -> set[str]:
    written = set(BY_ACTION)
    for path in WORKFLOWS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                first = node.args[0]
                if node.func.attr == "event" and isinstance(first, ast.Constant):
                    written.add(str(first.value))
    return written
