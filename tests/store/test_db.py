"""Engines, sessions and time zones behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from store import cases, keys
from store.db import get_engine, make_engine, make_session_factory, session_scope
from store.models import ApiKeyRow
from tests.store import factories as f
from tests.store.helpers import count, create

SHANGHAI = timezone(timedelta(hours=8))


def test_session_scope_commits_or_rolls_back(db: sessionmaker[Session]) -> None:
    with session_scope(db) as session:
        kept, _ = keys.create_api_key(session, "ops", label="kept")
    with pytest.raises(RuntimeError), session_scope(db) as session:
        lost, _ = keys.create_api_key(session, "ops", label="lost")
        raise RuntimeError("boom")
    assert count(db, ApiKeyRow, key_id=kept) == 1
    assert count(db, ApiKeyRow, key_id=lost) == 0


def test_aware_datetimes_come_back_as_aware_utc(db: sessionmaker[Session]) -> None:
    local = datetime(2026, 10, 5, 17, 30, 0, 123456, tzinfo=SHANGHAI)
    cid, _ = create(db, f.case_request(), at=local)
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        assert row.created_at == local
        assert row.created_at.utcoffset() == timedelta(0)
        assert row.created_at == datetime(2026, 10, 5, 9, 30, 0, 123456, tzinfo=UTC)


def test_naive_datetimes_are_refused(db: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError), db.begin() as session:
        session.add(
            ApiKeyRow(
                key_id="key_naive", key_hash="0" * 64, role="ops", label="", created_at=datetime(2026, 1, 1)
            )
        )
        session.flush()


def test_sqlite_engines_make_their_directory_and_enforce_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "cases.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert path.exists()
    finally:
        engine.dispose()


def test_get_engine_is_cached_per_url(db_url: str) -> None:
    engine = get_engine(db_url)
    assert get_engine(db_url) is engine
    with make_session_factory(engine)() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
