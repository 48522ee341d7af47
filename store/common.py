"""What the store modules share: canonical JSON, the clock, and insert-or-reread.

Insert-or-reread is how every idempotent write here settles a race: look for the row, insert it in
a SAVEPOINT when missing, and when a concurrent writer inserted the same key first (the unique key
fails the insert), read the winner's row. Only the SAVEPOINT rolls back, never the caller's
transaction. Hot paths (a case's creation) use `insert_unless_taken` instead: one
`INSERT ... ON CONFLICT DO NOTHING`, no SAVEPOINT, and the caller reads the winner's row.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached

T = TypeVar("T")


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: equal values give equal text (hashes depend on it)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_or_reread(session: Session, row: T, reread: Callable[[], T | None]) -> tuple[T, bool]:
    """Insert `row` in a SAVEPOINT; (row, True), or (the stored row, False) when another writer's
    row with the same key came first. `reread` must read past the session's identity map
    (`populate_existing`); re-raises when it finds nothing (the failure was something else)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row, True
    except IntegrityError:
        stored = reread()
        if stored is None:
            raise
        return stored, False


def get_or_insert(session: Session, find: Callable[[], T | None], make: Callable[[], T]) -> tuple[T, bool]:
    """The stored row `find` returns, else `make()` inserted (race-safe); (row, inserted)."""
    stored = find()
    if stored is not None:
        return stored, False
    return insert_or_reread(session, make(), find)


def insert_unless_taken(session: Session, row: DeclarativeBase) -> bool:
    """Insert the (transient) ORM object's row unless a row with one of its unique keys exists;
    whether it was inserted (and the object is then in the session). One statement and no SAVEPOINT: a
    conflict leaves the transaction usable (on PostgreSQL a concurrent writer's uncommitted row is
    waited for first). Columns the object leaves unset get their defaults."""
    table = row.__table__
    assert isinstance(table, Table)
    values = {c.key: value for c in table.columns if (value := getattr(row, c.key, None)) is not None}
    statement = insert_ignoring(session.get_bind().dialect.name, table)
    result = cast(CursorResult[Any], session.execute(statement, values))
    if not result.rowcount:
        return False
    # The row is stored: the object joins the session as if it had been read (no second INSERT; its
    # later changes are flushed as UPDATEs), and a column it left unset is read when first used.
    make_transient_to_detached(row)
    session.add(row)
    return True


@functools.cache
def insert_ignoring(dialect: str, table: Table) -> Any:
    """One `INSERT ... ON CONFLICT DO NOTHING` statement object per table and dialect (a Core
    INSERT): the values go as parameters, so it is built, and its cache key made, once, not per row."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"insert_ignoring on {dialect}")  # the store runs on these two only
