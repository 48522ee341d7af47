"""Shared fixtures: one store database, one provider simulator and one time-skipping Temporal
server per test session (time is shared across tests, so every test uses its own task queue)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from activities.provider_client import ProviderClient
from core.settings import Settings
from core.temporal import codec_for, data_converter
from simulator.app import FaultConfig, create_app
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from tests.support.databases import scratch_database
from tests.support.servers import run_uvicorn
from tests.support.temporal import binary, register_search_attributes

# A fixed key for tests only: recorded histories under tests/histories are encrypted with it.
TEST_CODEC_KEYS = "test-1:dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q="


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("db"), "aftersales_wf") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def simulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db_path = str(tmp_path_factory.mktemp("sim") / "ledger.db")
    with run_uvicorn(create_app(db_path, FaultConfig())) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, simulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        provider_base_url=simulator_url,
        local_dir=tmp_path_factory.mktemp("local"),
        worker_activity_threads=8,
        codec_keys=TEST_CODEC_KEYS,
    )


@pytest.fixture(scope="session")
def provider(settings: Settings) -> Iterator[ProviderClient]:
    with ProviderClient.from_settings(settings) as client:
        yield client


@pytest.fixture(scope="session")
def converter(settings: Settings) -> DataConverter:
    return data_converter(codec_for(settings))


@pytest.fixture(scope="session")
async def ts_env(converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=converter
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def root() -> Path:
    return Path(__file__).resolve().parent.parent
