"""A cached run keeps no view into an activation it has finished with (workers/lean_instance.py).

A protobuf view keeps its whole message's memory alive, so a run that holds one holds that
activation (the start activation holds the case's decoded input). Each test starts a workflow that
waits on a timer, then writes into the activations and the completion the worker has finished
with: the SDK's own instance sees the writes (it kept views), the lean one does not (it kept copies).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInstance,
    WorkflowInstanceDetails,
)
from temporalio.worker._workflow_instance import _WorkflowInstanceImpl

from tests.support.waiting import until
from workers.lean_instance import LeanWorkflowInstance, LeanWorkflowRunner, lean_runner_or_sdks
from workers.sandbox import case_workflow_runner


@workflow.defn(name="LeanProbe")
class Probe:
    @workflow.run
    async def run(self, text: str) -> str:
        await workflow.sleep(timedelta(days=3))
        return text


@dataclass
class Seen:
    instance: Any
    activation: WorkflowActivation
    completion: WorkflowActivationCompletion


class Recording:
    """A runner whose instances note each activation and the completion they answered it with."""

    def __init__(self, base: type[Any]) -> None:
        self.seen: list[Seen] = []
        seen = self.seen

        class Noting(base):
            def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
                completion = super().activate(act)
                seen.append(Seen(self, act, completion))
                return completion

        self.instance_class = Noting

    def runner(self) -> UnsandboxedWorkflowRunner:
        instance_class = self.instance_class

        class Runner(UnsandboxedWorkflowRunner):
            def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
                return instance_class(det)

        return Runner()


async def views_kept_by_a_waiting_run(
    env: WorkflowEnvironment, task_queue: str, base: type[Any]
) -> dict[str, bool]:
    """Start a probe with `base` instances; once it waits on its timer (its start activation is
    its latest), write into what it finished with and say which writes the run sees."""
    recording = Recording(base)
    async with Worker(
        env.client, task_queue=task_queue, workflows=[Probe], workflow_runner=recording.runner()
    ):
        handle = await env.client.start_workflow(
            Probe.run, "woke", id=f"lean-{base.__name__}-{task_queue}", task_queue=task_queue
        )
        await until("the probe waits on its timer", lambda: bool(recording.seen))
        (start,) = recording.seen
        write_into_finished(start.activation, start.completion)
        kept = views_kept(start.instance, start.completion)
        if base is LeanWorkflowInstance:
            assert start.instance._current_completion.ByteSize() == 0
        await env.sleep(timedelta(days=3, minutes=1))
        assert await handle.result() == "woke", "the run goes on as before"
    return kept


def write_into_finished(act: WorkflowActivation, completion: WorkflowActivationCompletion) -> None:
    """Write where a kept view would show it: the start job's headers and last result, the
    activation's deployment version and the completion's commands."""
    start = next(job.initialize_workflow for job in act.jobs if job.HasField("initialize_workflow"))
    start.headers["written-after"].data = b"header"
    start.memo.fields["written-after"].data = b"memo"
    start.last_completion_result.payloads.add().data = b"last result"
    act.deployment_version_for_current_task.build_id = "written-after"
    completion.successful.commands.add().start_timer.seq = 99


def views_kept(instance: Any, completion: WorkflowActivationCompletion) -> dict[str, bool]:
    return {
        "start headers": "written-after" in instance._workflow_input.headers,
        "info headers": "written-after" in instance._info.headers,
        "info memo": "written-after" in instance._info.raw_memo,
        "last completion result": len(instance._last_completion_result.payloads) > 0,
        "deployment version": instance._deployment_version_for_current_task.build_id == "written-after",
        "sent completion": instance._current_completion is completion,
    }


async def test_the_sdks_own_instance_keeps_views_into_the_start_activation(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """What the lean instance is for: if this fails, the SDK no longer keeps these views and
    workers/lean_instance.py can go."""
    kept = await views_kept_by_a_waiting_run(ts_env, task_queue, _WorkflowInstanceImpl)
    # The info's headers and memo are dicts of views: written keys do not appear, but the views in
    # them (none here) would pin the activation all the same.
    assert kept == {
        "start headers": True,
        "info headers": False,
        "info memo": False,
        "last completion result": True,
        "deployment version": True,
        "sent completion": True,
    }


async def test_a_lean_instance_keeps_no_view_into_a_finished_activation(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    kept = await views_kept_by_a_waiting_run(ts_env, task_queue, LeanWorkflowInstance)
    assert kept == dict.fromkeys(kept, False)


@workflow.defn(name="LeanDraws")
class Draws:
    @workflow.run
    async def run(self) -> list[float]:
        return [workflow.random().random() for _ in range(3)]


async def test_a_lean_instance_draws_what_the_sdks_random_would(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The lean instance makes the run's Random when first asked: from the run's seed, so the draws
    are those of the SDK's Random, made at the start and untouched until then."""
    recording = Recording(LeanWorkflowInstance)
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[Draws], workflow_runner=recording.runner()
    ):
        draws = await ts_env.client.execute_workflow(
            Draws.run, id=f"draws-{task_queue}", task_queue=task_queue
        )
    seed = recording.seen[0].instance._current_seed
    sdks = random.Random(seed)
    assert draws == [sdks.random() for _ in range(3)]


def test_the_case_worker_runs_lean_instances_on_the_checked_sdk() -> None:
    assert isinstance(case_workflow_runner(), LeanWorkflowRunner)


def test_another_sdk_version_gets_the_sdks_own_instances(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="workers.lean_instance"):
        runner = lean_runner_or_sdks("1.36.0")
    assert type(runner) is UnsandboxedWorkflowRunner
    assert "1.36.0 is not among the checked versions" in caplog.text
