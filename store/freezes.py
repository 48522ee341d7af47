"""Holiday freezes: over a merchant, a region, a merchant in a region, or everything."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.common import get_or_insert, utcnow
from store.models import FreezeRow

# A case's merchant or region: a value, or the case row's column inside a query.
Scoped = str | ColumnElement[Any] | InstrumentedAttribute[Any] | None


def freeze_scope(merchant_id: str | None, region: str | None) -> str:
    return f"merchant={merchant_id or '*'} region={region or '*'}"


def start_freeze(
    session: Session, merchant_id: str | None, region: str | None, reason: str, actor: str
) -> FreezeRow:
    """Record a freeze over a scope (None = any); freezing a frozen scope again keeps its start."""
    scope = freeze_scope(merchant_id, region)
    row, inserted = get_or_insert(
        session,
        partial(session.get, FreezeRow, scope, populate_existing=True),
        lambda: FreezeRow(
            scope=scope, merchant_id=merchant_id or None, region=region or None,
            reason=reason, started_by=actor, started_at=utcnow(),
        ),
    )  # fmt: skip
    if not inserted:  # frozen before, or by a concurrent request: keep its start
        row.reason = reason
        session.flush()
    return row


def end_freeze(session: Session, merchant_id: str | None, region: str | None) -> bool:
    """Remove the freeze of exactly this scope; False when there was none."""
    result = session.execute(delete(FreezeRow).where(FreezeRow.scope == freeze_scope(merchant_id, region)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def freeze_covers(merchant_id: Scoped, region: Scoped) -> ColumnElement[bool]:
    """A stored freeze covers a case when each of its scope's parts is unset or equals the case's."""
    return and_(
        or_(FreezeRow.merchant_id.is_(None), FreezeRow.merchant_id == merchant_id),
        or_(FreezeRow.region.is_(None), FreezeRow.region == region),
    )


def active_freeze(session: Session, merchant_id: str | None, region: str | None) -> str | None:
    """The reason of the oldest freeze covering a case of this merchant and region, if any."""
    return session.scalar(
        select(FreezeRow.reason)
        .where(freeze_covers(merchant_id, region))
        .order_by(FreezeRow.started_at, FreezeRow.scope)
        .limit(1)
    )


def list_freezes(session: Session) -> list[FreezeRow]:
    return list(session.scalars(select(FreezeRow).order_by(FreezeRow.started_at, FreezeRow.scope)))
