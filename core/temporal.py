"""One place that says how every process talks to Temporal: address, namespace, data converter."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from core.codec import EncryptionCodec, parse_keys
from core.settings import Settings


def local_codec_keys(local_dir: Path) -> str:
    """The embedded default's key: made once, kept (0600) in local_dir, shared by API and worker."""
    path = local_dir / "codec-keys"
    if not path.exists():
        local_dir.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(os.urandom(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"local-1:{key}\n")
    return path.read_text().strip()


def codec_for(settings: Settings) -> EncryptionCodec:
    keys = parse_keys(settings.codec_keys or local_codec_keys(settings.local_dir))
    current = settings.codec_current_key or list(keys)[-1]
    return EncryptionCodec(keys, current)


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
