"""Small store helpers shared by the store tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.models import CaseRequest
from store import cases
from tests.store import factories as f


def create(
    db: sessionmaker[Session], req: CaseRequest, key: str | None = None, at: datetime = f.NOW
) -> tuple[str, bool]:
    """What the API does: one transaction that inserts the case or finds the one its key made."""
    cid = f.case_id(at)
    with db.begin() as session:
        row, created = cases.create_case(session, cid, f"case-{cid}", key, req, f.initial_view(cid, req, at))
        return row.case_id, created


def count(db: sessionmaker[Session], model: type, **where: object) -> int:
    with db() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


@contextmanager
def statements_sent(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session sends inside the block, in order."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(bind, "before_cursor_execute", record)
