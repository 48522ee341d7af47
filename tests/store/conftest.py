"""Store fixtures: one fresh, migrated database per test session.

PostgreSQL when DATABASE_URL is set (a uniquely named database created next to it and dropped at the
end), else a temporary SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from tests.support.databases import scratch_database
from tests.support.keys import vault_for_tests


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("store"), "aftersales_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def db(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine, vault_for_tests())


@pytest.fixture
def fresh_db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of its own, for tests that migrate up and down."""
    with scratch_database(tmp_path_factory.mktemp("fresh"), "aftersales_test_mig") as url:
        yield url
