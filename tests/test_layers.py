"""The project's layers, read from the imports of every module (AST, so nothing is executed): each
package imports only the packages below it. Imports inside functions and under TYPE_CHECKING count.

    domain            pure rules: nothing of the project
    core              foundations (settings, codec, keyring, logging, Temporal client): domain
    store             persistence: domain, core
    activities        side effects for the worker: domain, core, store
    workflows         deterministic process: domain, activities.contracts
    services          what the API and the CLI both do: domain, core, store, calendar reads (and a
                      case's start, which the worker's start relay makes too: the search-attribute keys)
    api, cli          front doors: the above, never each other
    workers, devstack, simulator: what they start
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "domain", "core", "store", "activities", "workflows", "services", "api", "cli", "workers",
    "simulator", "devstack", "bench", "tests",
}  # fmt: skip
# Calendar reads of the store, kept in activities until they move to store/ with the store split.
CALENDAR_READS = "activities.calendars"
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "core": {"domain"},
    "store": {"domain", "core"},
    "activities": {"domain", "core", "store"},
    "workflows": {"domain", "activities.contracts"},
    # Starting a case (services.case_start) sets the workflow's search attributes.
    "services": {"domain", "core", "store", CALENDAR_READS, "workflows.search_attributes"},
    # The API starts the reply-clock workflow, whose input is a contract.
    "api": {
        "domain",
        "core",
        "store",
        "services",
        CALENDAR_READS,
        "workflows.search_attributes",
        "activities.contracts",
    },
    "cli": {"domain", "core", "store", "services"},
    # The start relay makes the start the API could not (services.case_start).
    "workers": {"domain", "core", "store", "activities", "workflows", "services.case_start"},
    "simulator": {"domain", "core"},
    "devstack": {"domain", "core", "store", "workflows.search_attributes"},
}


def imported(path: Path) -> set[str]:
    """Dotted names a module imports: `from a import b` gives `a.b` (a module or a name in `a`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in PACKAGES}


def allows(allowed: set[str], name: str) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def violations(package: str) -> list[str]:
    allowed = ALLOWED[package] | {package}
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in sorted(imported(path)):
            if not allows(allowed, name):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package: str) -> None:
    assert violations(package) == []


def test_every_package_of_the_project_has_a_rule() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk - {"bench", "tests"} == set(ALLOWED)


def test_the_checker_sees_nested_and_from_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import store.db\nfrom activities import contracts\n"
        "def f():\n    from api.app import create_app\n"
        "if True:\n    from domain.names import refund_key\nimport json\n"
    )
    assert imported(module) == {
        "store.db", "activities.contracts", "api.app.create_app", "domain.names.refund_key",
    }  # fmt: skip
    assert allows({"activities.contracts"}, "activities.contracts")
    assert not allows({"activities.contracts"}, "activities.calendars")
    assert not allows({"domain"}, "domainx.y")


def test_the_case_workflow_module_stays_the_process_in_at_most_500_lines() -> None:
    """Issue 14: the process reads in one module; the machinery lives beside it (workflows/*.py)."""
    module = Path(__file__).resolve().parent.parent / "workflows" / "case_workflow.py"
    assert len(module.read_text().splitlines()) <= 500
