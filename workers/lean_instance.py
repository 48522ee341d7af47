"""Cached workflow runs that keep no protobuf message of an activation they have finished with.

temporalio 1.35's workflow instance keeps four references into protobuf messages for as long as its
run stays in the worker's cache:

- the start job's headers (`ExecuteWorkflowInput.headers`, and `Info.headers` / `Info.raw_memo`),
- the start job's `last_completion_result`,
- the latest activation's `deployment_version_for_current_task`,
- the latest completion (`_current_completion`), after it was sent.

Each is a view into its message, and with protobuf's upb backend a view keeps the whole message's
arena alive: the start activation with every payload decoded into it (the case's input, in plain
JSON) and the latest activation and completion with theirs. That was ~24 KB of a cached case's
~122 KB (heaptrack: upb arenas grown by decoding and by `payloads.extend`; BENCHMARKS.md, issue 14,
tenth pass). This instance replaces each with a copy of its own (or a shared empty message where the
SDK only reads it) once the activation is done, so an activation's memory is freed when the SDK
drops it. The workflow sees the same values. It also makes the run's `random.Random` only when the
workflow first asks for it (2.5 KB a run; a case never does).

It subclasses the SDK's private instance class, so it is used only on the SDK versions it was
checked against (`CHECKED_SDK_VERSIONS`); on any other the worker logs why and runs the SDK's own.
`tests/test_lean_instance.py` shows that the SDK's instance keeps each view and this one does not.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from importlib.metadata import version
from typing import TypeVar

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.bridge.proto.common import WorkerDeploymentVersion
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._workflow_instance import _WorkflowInstanceImpl

log = logging.getLogger(__name__)

CHECKED_SDK_VERSIONS = ("1.35.",)  # prefixes of temporalio versions whose instance this extends

M = TypeVar("M", bound=Message)

# Read, never written, by the SDK: one empty message serves every run that has none.
_NO_PAYLOADS = Payloads()
_NO_DEPLOYMENT_VERSION = WorkerDeploymentVersion()


def owned_copy(message: M) -> M:
    """A copy of `message` in memory of its own (not a view into another message's)."""
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def detached(message: M, empty: M) -> M:
    """An owned copy of `message`; `empty` (shared) when it holds nothing."""
    return empty if message.ByteSize() == 0 else owned_copy(message)


def detached_payloads(payloads: Mapping[str, Payload]) -> dict[str, Payload]:
    return {key: owned_copy(payload) for key, payload in payloads.items()}


class LeanWorkflowInstance(_WorkflowInstanceImpl):
    """The SDK's unsandboxed workflow instance, holding no view into a finished activation."""

    def __init__(self, det: WorkflowInstanceDetails) -> None:
        self._made_random: random.Random | None = None
        super().__init__(det)
        self._last_completion_result = detached(det.last_completion_result, _NO_PAYLOADS)
        self._start_detached = False

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = super().activate(act)
        self._deployment_version_for_current_task = detached(
            act.deployment_version_for_current_task, _NO_DEPLOYMENT_VERSION
        )
        # The completion is on its way to the core; the next activation starts a new one.
        self._current_completion = WorkflowActivationCompletion()
        if not self._start_detached and self._workflow_input is not None:
            self._detach_start()
        return completion

    # The SDK makes every run a `random.Random` (2.5 KB) at its start; a case never draws from it.
    # This one is made from the current seed when first asked for: the same state the SDK's would be
    # in, since nothing draws from it before then and a new seed re-seeds it either way.
    @property
    def _random(self) -> random.Random:
        if self._made_random is None:
            self._made_random = random.Random(self._current_seed)
        return self._made_random

    @_random.setter
    def _random(self, made: random.Random) -> None:  # only the SDK's __init__ sets it
        self._made_random = None

    def _detach_start(self) -> None:
        """The start job's headers and memo, copied out of the start activation."""
        start = self._workflow_input
        assert start is not None
        start.headers = detached_payloads(start.headers)
        # In place: workflow code may hold this Info (`workflow.info()`), frozen but for this.
        for field in ("headers", "raw_memo"):
            object.__setattr__(self._info, field, detached_payloads(getattr(self._info, field)))
        self._start_detached = True


class LeanWorkflowRunner(UnsandboxedWorkflowRunner):
    """Runs workflows outside the sandbox (workers/sandbox.py) in `LeanWorkflowInstance`s."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        # Abstract only on paper: the event-loop methods it leaves out raise, as the SDK's own.
        return LeanWorkflowInstance(det)  # type: ignore[abstract]


def why_not_usable(sdk_version: str) -> str | None:
    """None when the SDK at `sdk_version` is one the lean instance was checked against, else why not."""
    if not sdk_version.startswith(CHECKED_SDK_VERSIONS):
        return f"temporalio {sdk_version} is not among the checked versions {CHECKED_SDK_VERSIONS}"
    return None


def lean_runner_or_sdks(sdk_version: str | None = None) -> UnsandboxedWorkflowRunner:
    reason = why_not_usable(sdk_version or version("temporalio"))
    if reason is not None:
        log.warning("workflow instances: using the SDK's own, which keep activations' memory: %s", reason)
        return UnsandboxedWorkflowRunner()
    return LeanWorkflowRunner()
