"""One walk over a workflow activation's payloads instead of three, while no external storage is set.

temporalio 1.35 decodes every workflow activation, and encodes every completion, in three walks of
the protobuf tree: external-storage references, external-storage retrieval (or store), the codec.
Without external storage (this service sets none) the first two walks change nothing but still copy
every payload list back into place and ask the workflow for each command's serialization context.
They ran on the worker's event-loop thread, the thread that bounds how fast a new worker resumes open
cases: 15 % of its time when replaying a case (BENCHMARKS.md, issue 14).

`install()` puts in the SDK's place two functions that make the codec's walk alone when the
converter has no external storage, and call the SDK's own otherwise. It installs only on the SDK
versions it was checked against (`CHECKED_SDK_VERSIONS`, with the functions' signatures as expected);
on any other it logs why and leaves the SDK as it is, so an upgrade can lose the gain but never a
payload's encoding. tests/test_payload_passes.py checks that both ways give the same protos.

On the way out it leaves a local activity's arguments as the converter made them. They go from
the workflow to this worker's own activity through the SDK core in this process and are never sent
to the server: a local activity's marker in the history holds its result (encrypted as before by
the activity side), not its arguments. Encrypting and compressing them, only to decrypt them a moment
later, was the codec's largest job in a case: every store write's delta (and, when a new worker
replays a case, every write it replays, whose arguments core drops unread). The codec's decode lets
payloads it did not seal pass, as it does for those written before encryption.

A completion that answers a replaying activation (`is_replaying`: the run's history already holds
what it commands) has its commands matched against that history by the SDK core, never sent:
encrypting their payloads (the timers' and local activities' summaries, activities' arguments,
updates' answers) was ~19 % of the CPU of replaying a case (py-spy, in process; BENCHMARKS.md,
twelfth pass). Only its query answers, which go to
the client, and a failed completion, which goes to the server, are sealed. `decode_activation`
notes each run's latest activation's flag and `encode_completion` reads it; one activation of a run
is in flight at a time. `tests/test_payload_passes.py` checks both ways, and
`tests/test_encryption.py` that a case replayed at every step (a worker without a cache) leaves
nothing unsealed in its history.

It also gives the SDK's command-aware visitor the command types as plain attributes (`EnumValues`):
the visitor reads `CommandType.COMMAND_TYPE_...` for every command it walks, and protobuf answers
each read through `EnumTypeWrapper.__getattr__`, a lookup by name in the enum's descriptor (5 % of
the event-loop thread while a new worker resumes cases). The values are the same ints.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from typing import Any

import temporalio.bridge.worker as sdk_bridge
import temporalio.worker._command_aware_visitor as sdk_visitor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.bridge.worker import CommandAwarePayloadVisitor, _Visitor
from temporalio.converter import DataConverter
from temporalio.converter._extstore import StorageOperationMetrics

log = logging.getLogger(__name__)

CHECKED_SDK_VERSIONS = ("1.35.",)  # prefixes of temporalio versions whose two functions this replaces
SDK_DECODE_ACTIVATION = sdk_bridge.decode_activation
SDK_ENCODE_COMPLETION = sdk_bridge.encode_completion
_EXPECTED_PARAMETERS: dict[Callable[..., Any], list[str]] = {
    SDK_DECODE_ACTIVATION: ["activation", "data_converter", "decode_headers", "storage_concurrency_limit"],
    SDK_ENCODE_COMPLETION: ["completion", "data_converter", "encode_headers", "storage_concurrency_limit"],
}


class EnumValues:
    """A protobuf enum's values as plain attributes (the same ints); anything else, such as `Name()`,
    is the wrapper's."""

    def __init__(self, wrapper: Any) -> None:  # an EnumTypeWrapper; the stubs type it as the enum
        self.__dict__.update(wrapper.items())
        self.wrapper = wrapper

    def __getattr__(self, name: str) -> Any:  # only reached for what is not a value
        return getattr(self.wrapper, name)


class _OutboundVisitor(CommandAwarePayloadVisitor):
    """The SDK's visitor, minus local activities' arguments and headers (they stay in this process);
    for a replayed completion (`replayed`), its query answers alone."""

    def __init__(self, *, replayed: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.replayed = replayed

    async def _visit_coresdk_workflow_commands_ScheduleLocalActivity(self, fs: Any, o: Any) -> None:
        return None

    async def _visit_coresdk_workflow_completion_Success(self, fs: Any, o: Any) -> None:
        if not self.replayed:
            return await super()._visit_coresdk_workflow_completion_Success(fs, o)
        for command in o.commands:
            if command.HasField("respond_to_query"):
                await self._visit_coresdk_workflow_commands_WorkflowCommand(fs, command)


# Each run's latest decoded activation: was it replaying? Read (and dropped) by its completion.
_replaying: dict[str, bool] = {}


async def _codec_walk(
    message: WorkflowActivation | WorkflowActivationCompletion,
    codec_step: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
    with_headers: bool,
    replayed: bool = False,
) -> StorageOperationMetrics:
    """The SDK's codec walk alone: `codec_step` on every payload list (search attributes excepted;
    on a completion, local activities' arguments too, and all but query answers when `replayed`)."""
    options: dict[str, Any] = {"skip_search_attributes": True, "skip_headers": not with_headers}
    if isinstance(message, WorkflowActivationCompletion):
        visitor: CommandAwarePayloadVisitor = _OutboundVisitor(replayed=replayed, **options)
    else:
        visitor = CommandAwarePayloadVisitor(**options)
    await visitor.visit(_Visitor(codec_step), message)
    return StorageOperationMetrics()  # nothing went to or came from external storage


async def decode_activation(
    activation: WorkflowActivation,
    data_converter: DataConverter,
    decode_headers: bool,
    storage_concurrency_limit: int,
) -> StorageOperationMetrics:
    """The SDK's `decode_activation`, with only the codec's walk when there is no external storage."""
    _replaying[activation.run_id] = activation.is_replaying
    if data_converter.external_storage is not None:
        return await SDK_DECODE_ACTIVATION(
            activation, data_converter, decode_headers, storage_concurrency_limit
        )
    return await _codec_walk(activation, data_converter._decode_payload_sequence, decode_headers)


async def encode_completion(
    completion: WorkflowActivationCompletion,
    data_converter: DataConverter,
    encode_headers: bool,
    storage_concurrency_limit: int,
) -> StorageOperationMetrics:
    """The SDK's `encode_completion`, with only the codec's walk when there is no external storage;
    a replayed activation's commands (but query answers) are left as they are: core drops them."""
    replayed = _replaying.pop(completion.run_id, False)
    if data_converter.external_storage is not None:
        return await SDK_ENCODE_COMPLETION(
            completion, data_converter, encode_headers, storage_concurrency_limit
        )
    return await _codec_walk(completion, data_converter._encode_payload_sequence, encode_headers, replayed)


def why_not_installable(sdk_version: str) -> str | None:
    """None when the SDK at `sdk_version` is one these functions were checked against, else why not."""
    if not sdk_version.startswith(CHECKED_SDK_VERSIONS):
        return f"temporalio {sdk_version} is not among the checked versions {CHECKED_SDK_VERSIONS}"
    for sdk_function, expected in _EXPECTED_PARAMETERS.items():
        found = list(inspect.signature(sdk_function).parameters)
        if found != expected:
            return f"temporalio's {sdk_function.__name__} takes {found}, not {expected}"
    return None


def install(sdk_version: str | None = None) -> bool:
    """Use the one-walk functions in this process (idempotent); False, and logged, when not checked."""
    if sdk_bridge.decode_activation is decode_activation:
        return True
    reason = why_not_installable(sdk_version or version("temporalio"))
    if reason is not None:
        log.warning("payload walks: keeping the SDK's three walks per activation: %s", reason)
        return False
    sdk_bridge.decode_activation = decode_activation
    sdk_bridge.encode_completion = encode_completion
    if isinstance(sdk_visitor.CommandType, EnumTypeWrapper):
        setattr(sdk_visitor, "CommandType", EnumValues(sdk_visitor.CommandType))  # noqa: B010 (typed as the enum)
    return True
