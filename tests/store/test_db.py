"""Engines, sessions and time zones behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from store import cases, keys
from store.db import get_engine, make_engine, make_session_factory, session_scope
from store.migrate import upgrade
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


def test_sqlite_reads_take_no_write_lock_while_a_writer_holds_it(tmp_path: Path) -> None:
    """A read-only session reads the last committed snapshot while another transaction holds the
    write lock (with BEGIN IMMEDIATE it would wait out the busy timeout and fail)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    upgrade(f"sqlite:///{tmp_path / 'locks.db'}")
    writes, reads = make_session_factory(engine), make_session_factory(engine, read_only=True)
    with writes.begin() as session:
        kept, _ = keys.create_api_key(session, "ops", label="committed")
    begun: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    with writes.begin() as writer:
        pending, _ = keys.create_api_key(writer, "ops", label="pending")
        writer.flush()  # the write lock is held until the block ends
        with reads() as reader:
            seen_now = {row.key_id for row in keys.list_api_keys(reader)}
    assert seen_now == {kept} and pending not in seen_now
    assert begun == ["BEGIN IMMEDIATE", "BEGIN"]
    engine.dispose()


def test_sqlite_writers_of_a_process_take_turns_and_give_them_back(tmp_path: Path) -> None:
    """Many threads writing at once all get through; a turn is given back after a commit and after a
    rollback, and a connection writing twice keeps its own turn (a leaked turn would make the next
    writer fail with "database is locked" after the busy timeout)."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    upgrade(url)
    engine = make_engine(url)
    writes = make_session_factory(engine)
    with pytest.raises(RuntimeError), writes.begin() as session:
        keys.create_api_key(session, "ops", label="rolled back")
        raise RuntimeError("boom")

    def write(n: int) -> str:
        with writes.begin() as session:
            return keys.create_api_key(session, "ops", label=f"writer {n}")[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(write, range(24)))
    with engine.connect() as connection:  # two transactions on one connection, one turn
        for _ in range(2):
            with connection.begin():
                connection.execute(text("UPDATE api_keys SET label = label"))
    with writes() as session:
        assert {row.key_id for row in keys.list_api_keys(session)} == set(made)
    engine.dispose()


def test_an_engine_whose_callers_retry_pings_a_pooled_connection_only_after_it_sat_idle(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop a connection")
    everyone_elses = make_engine(db_url)
    assert everyone_elses.pool._pre_ping  # the API's, the CLI's: every checkout is pinged
    everyone_elses.dispose()
    engine = make_engine(db_url, callers_retry=True)  # the worker's
    pings: list[object] = []
    do_ping = engine.dialect.do_ping

    def counted_ping(conn: Any) -> bool:
        pings.append(conn)
        return do_ping(conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    try:
        with engine.connect() as conn:
            backend = conn.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as conn:  # used moments ago: handed out without a ping
            assert conn.scalar(text("SELECT pg_backend_pid()")) == backend
        assert pings == []
        killer = make_engine(db_url)  # another client: the server drops the pooled connection
        with killer.connect() as other:
            assert other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        killer.dispose()
        monkeypatch.setattr("store.db.PING_AFTER_IDLE_SECONDS", 0.0)  # it has sat idle long enough
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1  # the ping found it dead: a fresh one instead
            assert conn.scalar(text("SELECT pg_backend_pid()")) != backend
        assert pings
    finally:
        engine.dispose()
