"""The workflow sandbox of the case worker.

The sandbox re-imports a workflow's modules for every workflow run it starts, so that one run cannot
leak module state into another. For a case that meant a fresh copy of every module of `workflows/`
(and what they import) per cached case: most of a worker's memory per open case, and most of the
time a new worker takes to resume its cases. Our workflow code keeps no module state and never reads
a clock, a random source or a file (`tests/test_sandbox.py` checks its source for those), so these
packages are passed through: imported once, shared by every run. The sandbox still restricts what a
workflow may call (its proxies of `datetime`, `random`, I/O) everywhere else.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Pure, deterministic, stateless at module level: imported once per worker, not once per run.
PASSED_THROUGH = ("workflows", "domain", "activities.contracts", "temporalio.contrib.pydantic")


def case_workflow_runner() -> SandboxedWorkflowRunner:
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)
