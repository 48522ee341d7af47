"""Engines and sessions. Sync SQLAlchemy: activities run it in threads, the API in its threadpool."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from store.vault import PersonalDataVault

# Seconds a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT = 30
# Execution option of engines whose sessions only read (make_session_factory(read_only=True)).
READS_ONLY = "aftersales_reads_only"
_WRITER_TURN = "aftersales_writer_turn"  # in a connection's info: it holds its engine's writer turn


def make_engine(url: str, *, writes_give_way: bool = False, callers_retry: bool = False) -> Engine:
    """An engine for the case store: PostgreSQL in production, SQLite for the embedded default.

    `writes_give_way` (the worker's engine): on a SQLite file, this process's writers let the writers
    of processes without it (the API: a request is waiting) go first; see `WriterLane`.
    `callers_retry` (the worker's engine: its activities and relays retry a failed transaction): a
    PostgreSQL connection is pinged before use only after it sat idle (`_ping_when_idle`), not at
    every checkout; a connection the server dropped while in use moments ago then fails one
    transaction after a database restart, which the caller retries."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(
            url, pool_pre_ping=not callers_retry, pool_size=10, max_overflow=20, pool_recycle=1800
        )
        if callers_retry:
            _ping_when_idle(engine)
        return engine
    lane = None
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        lane = WriterLane(Path(parsed.database).with_name(Path(parsed.database).name + ".writers"))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT})
    _sqlite_transactions(engine, lane, writes_give_way)
    return engine


# A pooled connection unused this long is pinged before it is handed out (see _ping_when_idle).
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "aftersales_idle_since"  # in a pooled connection's record: when it was checked in


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only when it has sat in the pool a while (`pool_pre_ping` pings
    on every checkout: one more round trip per transaction, ~20 % of a store write's).

    A dead connection found by the ping is replaced before anyone uses it (the pool retries the
    checkout). One used moments ago is handed out as it is: if the server went away meanwhile, its
    first statement fails, SQLAlchemy then discards every connection of the pool made before that
    moment, and the caller retries as after any failed statement (so only for callers that do).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new (just connected) or in use moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as err:
            raise DisconnectionError(f"a pooled connection is gone: {err}") from err


class WriterLane:
    """Which process's writers take SQLite's one write lock first: requests before the worker.

    SQLite grants its write lock to whichever waiting writer polls first, and the worker, catching
    up on new cases, always has a writer waiting: API requests queued behind its writes for seconds
    (POST /v1/cases p99 2-10 s at 50/s). Here an API process holds a shared `flock` on a file beside
    the database while one of its writers waits or writes; a worker's writer first waits (at most
    `GIVE_WAY_SECONDS`, so it is never starved) until no API process holds it. Advisory and
    best-effort: a writer that comes in between still waits for SQLite as before.
    """

    GIVE_WAY_SECONDS = 0.25  # the longest a worker's write waits for requests' writes
    _POLL_SECONDS = 0.001

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._opened = threading.Lock()

    def _file(self) -> int:
        with self._opened:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            return self._fd

    def enter(self) -> None:
        """A request's writer waits or writes (held by at most one thread per process: the turn's)."""
        fcntl.flock(self._file(), fcntl.LOCK_SH)

    def leave(self) -> None:
        fcntl.flock(self._file(), fcntl.LOCK_UN)

    def give_way(self) -> None:
        """Return once no request's writer waits or writes, or after GIVE_WAY_SECONDS."""
        fd = self._file()
        deadline = time.monotonic() + self.GIVE_WAY_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(self._POLL_SECONDS)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return


def _sqlite_transactions(engine: Engine, lane: WriterLane | None, writes_give_way: bool) -> None:
    """Let SQLAlchemy, not the sqlite3 driver, start transactions, and start them as writers.

    The driver's legacy mode begins a transaction only at the first INSERT/UPDATE/DELETE, so a
    SAVEPOINT issued before that (create_case's race guard) runs outside any transaction and its
    RELEASE commits for good: a later rollback would leave half a case behind. Taking the write lock
    at BEGIN (IMMEDIATE) also makes read-check-write sequences (the refund limit, the event chain)
    serialisable and makes concurrent writers wait for the busy timeout instead of failing with
    "database is locked" when a read snapshot turns stale. Sessions here are short, so the cost is small;
    the one rule it adds: a thread must not open a second writing session while its first holds a
    connection (the second waits for the first's turn until the busy timeout). Sessions made with
    `make_session_factory(..., read_only=True)` begin deferred instead: they only read.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # Writers of this process take turns here before asking SQLite for its write lock. SQLite makes a
    # waiting writer poll in a sleeping busy handler (naps of 1, 2, 5 ... 100 ms), so with dozens of
    # threads waiting, the lock sat free while they slept and a writer could lose to newcomers for
    # seconds (POST /v1/cases p99 > 1 s with two API processes, nothing else writing). A lock wakes
    # the next writer at once; only one writer per process still polls SQLite.
    turn = threading.Lock()
    # Who took the turn last: named when a waiter gives up, so a stall says where to look.
    holder: dict[str, Any] = {"thread": "nobody", "since": 0.0}

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        if options.get(READS_ONLY):
            # A session that only reads takes a WAL snapshot (deferred BEGIN): no write lock, so it
            # neither waits for writers nor makes other readers wait in SQLite's sleeping busy handler.
            connection.exec_driver_sql("BEGIN")
            return
        if not connection.info.get(_WRITER_TURN):
            if not turn.acquire(timeout=SQLITE_BUSY_TIMEOUT):
                held_for = time.monotonic() - holder["since"]
                raise sqlite3.OperationalError(
                    "database is locked (no writer turn within the busy timeout; "
                    f"taken {held_for:.0f} s ago by thread {holder['thread']})"
                )
            connection.info[_WRITER_TURN] = True
            holder.update(thread=threading.current_thread().name, since=time.monotonic())
            if lane is not None:
                if writes_give_way:
                    lane.give_way()
                else:
                    lane.enter()
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # Back in the pool (committed or rolled back): the next writer's turn. A connection keeps
        # its turn across transactions until then, so a thread never waits for its own turn.
        if record.info.pop(_WRITER_TURN, False):
            if lane is not None and not writes_give_way:
                lane.leave()
            turn.release()


@lru_cache(maxsize=8)
def get_engine(url: str, *, writes_give_way: bool = False, callers_retry: bool = False) -> Engine:
    """One engine (and pool) per URL per process (`make_engine`)."""
    return make_engine(url, writes_give_way=writes_give_way, callers_retry=callers_retry)


def make_session_factory(
    engine: Engine, vault: PersonalDataVault | None = None, *, read_only: bool = False
) -> sessionmaker[Session]:
    """Objects stay readable after commit: callers return rows out of their `with` block.

    `vault` seals and opens personal data (store.personal); sessions without one read plain rows only.
    `read_only`: for sessions that never write (the API's reads); on SQLite they read a snapshot
    without taking the write lock (see `_sqlite_transactions`), elsewhere they are ordinary sessions.
    """
    bind = engine.execution_options(**{READS_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False, info={"vault": vault} if vault else None)


def reading(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions like `sessions` that only read: on SQLite they read a snapshot and never wait for (or
    hold) the writer turn, so a worker's reads do not queue behind its writes."""
    info = sessions.kw.get("info") or {}
    return make_session_factory(sessions.kw["bind"], info.get("vault"), read_only=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back (and re-raise) when it fails."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
