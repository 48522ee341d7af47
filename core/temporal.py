"""One place that says how every process talks to Temporal: address, namespace, data converter."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from core.codec import EncryptionCodec
from core.keyring import key_ring
from core.settings import Settings


def codec_for(settings: Settings) -> EncryptionCodec:
    ring = key_ring(settings)
    return EncryptionCodec(ring.keys, ring.current)


def data_converter(codec: EncryptionCodec | None = None) -> DataConverter:
    """The converter the API, the worker, the replayer and the tests must all share."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
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
