"""The worker's one walk over an activation's payloads does what the SDK's three walks do
(workers/payload_passes.py): every payload decoded on the way in, encrypted on the way out, the
rest of each proto untouched; and the SDK's own functions stay in use where it was not checked."""

from __future__ import annotations

from importlib.metadata import version
from types import SimpleNamespace
from typing import Any, cast

import pytest
import temporalio.bridge.worker as sdk_bridge
import temporalio.worker._command_aware_visitor as sdk_visitor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1.command_type_pb2 import CommandType
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter

from core import codec as codec_module
from workers import payload_passes


@pytest.fixture(autouse=True)
def no_activation_in_flight() -> None:
    """Each test starts with no run's activation decoded and not yet completed."""
    payload_passes._replaying.clear()


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def plain_activation() -> WorkflowActivation:
    """An activation with payloads in every place a case's activations carry them."""
    activation = WorkflowActivation(run_id="run-1", is_replaying=True)
    start = activation.jobs.add().initialize_workflow
    start.workflow_id, start.workflow_type = "case-1", "CaseWorkflow"
    start.arguments.extend([_payload("the case request: 张三, 138 0000 0000")])
    activation.jobs.add().resolve_activity.result.completed.result.CopyFrom(_payload("a store write"))
    activation.jobs.add().signal_workflow.input.extend([_payload("a signal"), _payload("and another")])
    update = activation.jobs.add().do_update
    update.name, update.protocol_instance_id = "propose", "update-1"
    update.input.extend([_payload("a proposal of 120.00 CNY")])
    query = activation.jobs.add().query_workflow
    query.query_type, query.query_id = "case", "query-1"
    query.arguments.extend([_payload("a query argument")])
    activation.jobs.add().fire_timer.seq = 7  # no payload: must come out as it went in
    return activation


def plain_completion() -> WorkflowActivationCompletion:
    completion = WorkflowActivationCompletion(run_id="run-1")
    commands = completion.successful.commands
    activity = commands.add().schedule_activity
    activity.activity_type, activity.seq = "pay_refund", 3
    activity.arguments.extend([_payload("refund 120.00 CNY to 张三")])
    local = commands.add().schedule_local_activity
    local.activity_type, local.seq = "apply_delta", 4
    local.arguments.extend([_payload("the delta of a store write " * 40)])
    commands.add().update_response.completed.CopyFrom(_payload("the update's answer"))
    commands.add().respond_to_query.succeeded.response.CopyFrom(_payload("the case view"))
    commands.add().start_timer.seq = 9
    commands.add().complete_workflow_execution.result.CopyFrom(_payload("closed"))
    return completion


def all_payloads(message: Any) -> list[Payload]:
    """Every Payload inside a proto message, in field order."""
    found: list[Payload] = []
    for _field, value in message.ListFields():
        values = value if hasattr(value, "__len__") and not isinstance(value, str | bytes) else [value]
        for item in values:
            if isinstance(item, Payload):
                found.append(item)
            elif hasattr(item, "ListFields"):
                found.extend(all_payloads(item))
    return found


async def test_one_walk_decodes_an_activation_exactly_as_the_sdks_three_walks(
    converter: DataConverter,
) -> None:
    sealed = plain_activation()
    for payload in all_payloads(sealed):
        payload.CopyFrom((await converter._encode_payload_sequence([payload]))[0])
    assert all(p.metadata["encoding"] == codec_module.ENCODING for p in all_payloads(sealed))

    by_sdk, by_one_walk = WorkflowActivation(), WorkflowActivation()
    by_sdk.CopyFrom(sealed)
    by_one_walk.CopyFrom(sealed)
    await payload_passes.SDK_DECODE_ACTIVATION(by_sdk, converter, True, 10)
    await payload_passes.decode_activation(by_one_walk, converter, True, 10)

    assert by_one_walk == by_sdk == plain_activation()


def local_activity_arguments(completion: WorkflowActivationCompletion) -> list[Payload]:
    commands = completion.successful.commands
    return [
        a
        for c in commands
        if c.HasField("schedule_local_activity")
        for a in c.schedule_local_activity.arguments
    ]


async def test_one_walk_encrypts_a_completion_as_the_sdks_three_walks_do_but_local_activity_arguments(
    converter: DataConverter,
) -> None:
    by_sdk, by_one_walk = plain_completion(), plain_completion()
    await payload_passes.SDK_ENCODE_COMPLETION(by_sdk, converter, True, 10)
    await payload_passes.encode_completion(by_one_walk, converter, True, 10)

    # A local activity's arguments never leave the worker (its marker holds the result only):
    # they stay as the converter made them; everything that goes to the server is sealed.
    payloads = all_payloads(by_one_walk)
    sealed = [p for p in payloads if p.metadata["encoding"] == codec_module.ENCODING]
    assert [p for p in payloads if p not in sealed] == local_activity_arguments(plain_completion())
    assert local_activity_arguments(by_one_walk) == local_activity_arguments(plain_completion())
    assert len(sealed) == 4
    assert not any(b"120.00" in p.data or "张三".encode() in p.data for p in sealed)
    # Encryption draws a fresh nonce, so the two differ in bytes: each must open to the original.
    for encoded in (by_sdk, by_one_walk):
        opened = WorkflowActivationCompletion()
        opened.CopyFrom(encoded)
        for payload in all_payloads(opened):
            payload.CopyFrom((await converter._decode_payload_sequence([payload]))[0])
        assert opened == plain_completion()


async def test_a_replayed_activations_completion_seals_its_query_answers_and_leaves_the_rest(
    converter: DataConverter,
) -> None:
    """Core matches a replayed activation's commands against the history and drops them; the query
    answer goes to the client, a failure to the server: those are sealed."""
    await payload_passes.decode_activation(plain_activation(), converter, True, 10)  # replaying
    replayed = plain_completion()
    await payload_passes.encode_completion(replayed, converter, True, 10)
    sealed = [p for p in all_payloads(replayed) if p.metadata["encoding"] == codec_module.ENCODING]
    assert (
        len(sealed) == 1 and sealed[0] is replayed.successful.commands[3].respond_to_query.succeeded.response
    )
    assert [p for p in all_payloads(replayed) if p not in sealed] == [
        p for p in all_payloads(plain_completion()) if b"the case view" not in p.data
    ]

    failed = WorkflowActivationCompletion(run_id="run-1")
    failed.failed.failure.message = "refund to 张三 failed"
    failed.failed.failure.encoded_attributes.CopyFrom(_payload("the failure's details"))
    await payload_passes.decode_activation(plain_activation(), converter, True, 10)
    await payload_passes.encode_completion(failed, converter, True, 10)
    assert failed.failed.failure.encoded_attributes.metadata["encoding"] == codec_module.ENCODING

    live = plain_activation()
    live.is_replaying = False  # the run caught up with its history: what it commands now is sent
    await payload_passes.decode_activation(live, converter, True, 10)
    completion = plain_completion()
    await payload_passes.encode_completion(completion, converter, True, 10)
    assert len([p for p in all_payloads(completion) if p.metadata["encoding"] == codec_module.ENCODING]) == 4
    assert not payload_passes._replaying, "each completion takes its activation's flag"


async def test_a_completion_without_its_activation_seen_is_sealed_whole(converter: DataConverter) -> None:
    """The safe default: not known to be replayed, so everything bound for the server is sealed."""
    completion = plain_completion()
    await payload_passes.encode_completion(completion, converter, True, 10)
    assert len([p for p in all_payloads(completion) if p.metadata["encoding"] == codec_module.ENCODING]) == 4


async def test_with_external_storage_the_sdks_own_walks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """External storage (not used by this service) needs the SDK's other walks: they are not skipped."""
    called: list[str] = []

    async def sdk_decode(*args: Any) -> str:
        called.append("decode")
        return "the SDK's metrics"

    async def sdk_encode(*args: Any) -> str:
        called.append("encode")
        return "the SDK's metrics"

    # Stand-ins for the SDK's functions, to see which one runs; the converter only needs the field.
    monkeypatch.setattr(payload_passes, "SDK_DECODE_ACTIVATION", sdk_decode)
    monkeypatch.setattr(payload_passes, "SDK_ENCODE_COMPLETION", sdk_encode)
    with_storage = cast(DataConverter, SimpleNamespace(external_storage=object()))

    assert (
        await payload_passes.decode_activation(plain_activation(), with_storage, True, 10)
        == "the SDK's metrics"
    )
    assert (
        await payload_passes.encode_completion(plain_completion(), with_storage, True, 10)
        == "the SDK's metrics"
    )
    assert called == ["decode", "encode"]


def test_installed_only_on_the_sdk_it_was_checked_against(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_bridge, "decode_activation", payload_passes.SDK_DECODE_ACTIVATION)
    monkeypatch.setattr(sdk_bridge, "encode_completion", payload_passes.SDK_ENCODE_COMPLETION)
    monkeypatch.setattr(sdk_visitor, "CommandType", CommandType)

    assert payload_passes.why_not_installable("1.35.0") is None
    assert "not among the checked versions" in str(payload_passes.why_not_installable("1.36.0"))
    assert payload_passes.install("1.36.0") is False
    assert sdk_bridge.decode_activation is payload_passes.SDK_DECODE_ACTIVATION
    assert sdk_visitor.CommandType is CommandType

    assert payload_passes.install("1.35.0") is True
    assert sdk_bridge.decode_activation is payload_passes.decode_activation
    assert sdk_bridge.encode_completion is payload_passes.encode_completion
    assert isinstance(sdk_visitor.CommandType, payload_passes.EnumValues)
    assert payload_passes.install() is True  # idempotent


def test_the_visitor_reads_the_same_command_types_as_plain_attributes() -> None:
    values = payload_passes.EnumValues(CommandType)

    assert {name: getattr(values, name) for name, _ in CommandType.items()} == dict(CommandType.items())
    assert values.Name(CommandType.COMMAND_TYPE_START_TIMER) == "COMMAND_TYPE_START_TIMER"
    assert "COMMAND_TYPE_START_TIMER" in vars(values)  # read without protobuf's lookup by name
    with pytest.raises(AttributeError):
        values.COMMAND_TYPE_NO_SUCH_THING  # noqa: B018


async def test_each_payload_is_walked_under_its_commands_type_and_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The codec sees, for each payload, the command it belongs to, with either form of the enum."""

    async def walk() -> list[tuple[int, int] | None]:
        seen: list[tuple[int, int] | None] = []

        async def record(payloads: Any) -> list[Payload]:
            info = sdk_visitor.current_command_info.get()
            seen.append(None if info is None else (info.command_type, info.command_seq))
            return list(payloads)

        await payload_passes._codec_walk(plain_completion(), record, with_headers=True)
        return seen

    monkeypatch.setattr(sdk_visitor, "CommandType", CommandType)
    by_protobuf = await walk()
    monkeypatch.setattr(sdk_visitor, "CommandType", payload_passes.EnumValues(CommandType))
    assert await walk() == by_protobuf
    assert (CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, 3) in by_protobuf
    assert (CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK, 4) not in by_protobuf, "a local activity's"
    assert isinstance(CommandType, EnumTypeWrapper)


async def test_the_worker_walks_once_on_the_pinned_sdk(worker: Any) -> None:
    """build_worker installs it; pyproject pins the SDK to the versions it was checked against."""
    assert payload_passes.why_not_installable(version("temporalio")) is None
    assert sdk_bridge.decode_activation is payload_passes.decode_activation
    assert sdk_bridge.encode_completion is payload_passes.encode_completion
