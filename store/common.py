"""What the store modules share: canonical JSON, the clock, and insert-or-reread.

Insert-or-reread is how every idempotent write here settles a race: look for the row, insert it in
a SAVEPOINT when missing, and when a concurrent writer inserted the same key first (the unique key
fails the insert), read the winner's row. Only the SAVEPOINT rolls back, never the caller's
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
