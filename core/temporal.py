"""One place that says how every process talks to Temporal: address, namespace, data converter."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Self

from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    SerializationContext,
    WithSerializationContext,
)

from core.codec import EncryptionCodec
from core.keyring import key_ring
from core.settings import Settings


def codec_for(settings: Settings) -> EncryptionCodec:
    ring = key_ring(settings)
    return EncryptionCodec(ring.keys, ring.current)


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, one per process.

    The SDK builds a data converter for every workflow activation, and with it a new payload
    converter from `payload_converter_class`, whose type-adapter cache then starts empty. The
    converter keeps no state but that cache (it takes no serialization context), so every
    construction returns the one instance.
    """

    _shared: ClassVar[SharedPydanticPayloadConverter | None] = None

    def __new__(cls) -> SharedPydanticPayloadConverter:
        if cls._shared is None:
            shared = super().__new__(cls)
            PydanticPayloadConverter.__init__(shared)
            cls._shared = shared
        return cls._shared

    def __init__(self) -> None:  # initialised once, in __new__
        pass


@dataclasses.dataclass(frozen=True)
class ContextCopyingDataConverter(DataConverter):
    """The SDK's converter, cloned cheaply for a serialization context.

    The codec binds each payload to its workflow (core.codec), so the SDK asks for a converter per
    context: for every activity's and local activity's payloads. The SDK's own `with_context` clones
    with `dataclasses.replace`, which builds a new payload converter and failure converter only to
    replace them (a third of a replayed case's payload handling). This clone copies the fields.
    """

    def with_context(self, context: SerializationContext) -> Self:
        changed = {}
        for name in ("payload_converter", "payload_codec", "failure_converter", "external_storage"):
            part = getattr(self, name)
            if isinstance(part, WithSerializationContext):
                new = part.with_context(context)
                if new is not part:
                    changed[name] = new
        if not changed:
            return self
        cloned = object.__new__(type(self))  # no __init__/__post_init__: the parts are shared or set
        cloned.__dict__.update(self.__dict__)
        for name, part in changed.items():
            object.__setattr__(cloned, name, part)
        return cloned


def data_converter(codec: EncryptionCodec | None = None) -> DataConverter:
    """The converter the API, the worker, the replayer and the tests must all share."""
    if codec is None:
        return pydantic_data_converter
    return ContextCopyingDataConverter(
        payload_converter_class=SharedPydanticPayloadConverter,
        payload_codec=codec,
        # Failure messages and stack traces may quote customer data: encode them too.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(codec_for(settings)),
    )
