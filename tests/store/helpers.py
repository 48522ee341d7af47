"""Small store helpers shared by the store tests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
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
