"""How the case worker runs workflow code: outside the SDK's sandbox, guarded by tests instead.

The SDK's sandbox re-imports a workflow's modules for every run and checks each call into them. For
the case it guarded little: `workflows`, `domain` and `activities.contracts` had to be passed through
(imported once per worker, not once per cached case: it cost ~70 KB per case), and code passed through
is not restricted. What it still cost was time and memory per run: entering the sandbox on every
activation and on every payload it converted (its restricted builtins and importer) made a replay
1.5-1.8x slower, and every run kept its own sandbox globals. So the worker runs workflows unsandboxed
(BENCHMARKS.md, issue 14), and determinism is guarded where it can be checked:

- `tests/test_sandbox.py` reads the source of `WORKFLOW_CODE`: no clock, randomness, environment,
  network, store or calendar data;
- `tests/test_replay.py` replays every recorded history with this runner and with the SDK's default
  sandbox (`strict_sandbox_runner`), and fails on any nondeterminism.
"""

from __future__ import annotations

from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workers.lean_instance import lean_runner_or_sdks

# The packages workflow code runs: pure, deterministic, no module state (tests/test_sandbox.py).
WORKFLOW_CODE = ("workflows", "domain", "activities.contracts")


def case_workflow_runner() -> WorkflowRunner:
    """The runner of the case worker and of the replay tests: unsandboxed, in instances that keep no
    finished activation's memory (workers/lean_instance.py)."""
    return lean_runner_or_sdks()


def strict_sandbox_runner() -> SandboxedWorkflowRunner:
    """The SDK's default sandbox, for tests only: a replay in it fails on a restricted call."""
    return SandboxedWorkflowRunner()
