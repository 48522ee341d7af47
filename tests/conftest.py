"""Shared fixtures: one store database, one provider simulator and one dev server per test session;
one time-skipping Temporal server per test (they start in about 0.1 s).

A time-skipping server is never shared between tests. The Java test server keeps a count of what
holds its clock still (each scheduled workflow task and activity adds one); a workflow terminated
or completed with a task or activity in flight never gives its count back (temporalio/sdk-java#1138),
and from then on `env.sleep(30 days)` waits real time. Shared, one test's leftover stalled the next
one's skipping, depending on timing (it showed when the dev-server tests loaded the machine)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.provider_client import ProviderClient
from api.app import create_app
from core.settings import Settings
from core.temporal import codec_for, data_converter
from simulator.app import FaultConfig
from simulator.app import create_app as create_simulator
from store.db import make_engine, make_session_factory
from store.keys import create_api_key
from store.migrate import upgrade
from tests.support.cases import terminate_started
from tests.support.databases import scratch_database
from tests.support.keys import TEST_CODEC_KEYS, TEST_LOOKUP_HASH_KEY, vault_for_tests
from tests.support.servers import run_uvicorn
from tests.support.temporal import binary, time_skipping_server
from workers.build import build_worker
from workers.outbox_relay import OutboxRelay
from workflows.search_attributes import ALL_KEYS

# Fixtures that start a Temporal dev server (the shared one and what stands on it, or a private one
# to break): a test using one is slow.
SLOW_FIXTURES = frozenset({"dev_env", "private_temporal"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the shared dev server are marked `slow` here (their fixtures say so, directly or
    through `api_url`); other slow tests carry the mark themselves."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("db"), "aftersales_wf") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine, vault_for_tests())
    engine.dispose()


@pytest.fixture(scope="session")
def simulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db_path = str(tmp_path_factory.mktemp("sim") / "ledger.db")
    with run_uvicorn(create_simulator(db_path, FaultConfig())) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, simulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        provider_base_url=simulator_url,
        local_dir=tmp_path_factory.mktemp("local"),
        worker_activity_threads=8,
        codec_keys=TEST_CODEC_KEYS,
        lookup_hash_key=TEST_LOOKUP_HASH_KEY,
        # Scenarios read a case's workflow right after creating it: the API answers once it started
        # (it waits no longer than the start takes). tests/test_case_starts.py covers answering first.
        case_start_wait_seconds=30,
    )


@pytest.fixture(scope="session")
def provider(settings: Settings) -> Iterator[ProviderClient]:
    with ProviderClient.from_settings(settings) as client:
        yield client


@pytest.fixture(scope="session")
def converter(settings: Settings) -> DataConverter:
    return data_converter(codec_for(settings))


@pytest.fixture
async def ts_env(converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server(converter) as env:
        yield env


@pytest.fixture
async def worker(
    ts_env: WorkflowEnvironment,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    task_queue: str,
) -> AsyncIterator[Worker]:
    relay = OutboxRelay.from_settings(settings, sessions, provider)
    async with (
        relay.running(),
        build_worker(ts_env.client, settings, sessions, provider, task_queue, relay.wake) as running,
    ):
        yield running
        await terminate_started()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
async def dev_env(converter: DataConverter) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=converter,
        search_attributes=ALL_KEYS,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def api_url(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
) -> AsyncIterator[str]:
    api_settings = settings.model_copy(update={"task_queue": "api-tests"})
    relay = OutboxRelay.from_settings(api_settings, sessions, provider)
    async with (
        relay.running(),
        build_worker(dev_env.client, api_settings, sessions, provider, wake_relay=relay.wake),
    ):
        with run_uvicorn(create_app(api_settings, client=dev_env.client)) as url:
            yield url


@pytest.fixture(scope="session")
def keys(sessions: sessionmaker[Session]) -> dict[str, str]:
    """One API key per role, like `make run` makes (the merchant key is for M-100)."""
    made: dict[str, str] = {}
    with sessions.begin() as session:
        for role in ("system", "agent", "supervisor", "dispute", "merchant", "ops"):
            merchant = "M-100" if role == "merchant" else None
            made[role] = create_api_key(session, role, merchant, f"test {role}")[1]
    return made
