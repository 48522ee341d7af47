"""Policy versions (DESIGN §13): append-only per level; the version in force at a time per level."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.policy_docs import Level, PolicyDocument, PolicyVersion
from store.common import utcnow
from store.models import PolicyVersionRow


def scope_of(level: Level, merchant_id: str | None, category: str | None) -> str:
    if level == "platform":
        return "platform"
    if level == "merchant":
        return f"merchant:{merchant_id}"
    return f"category:{merchant_id}/{category}"


def level_of(merchant_id: str | None, category: str | None) -> Level:
    if merchant_id is None:
        return "platform"
    return "merchant" if category is None else "category"


def add_version(
    session: Session,
    merchant_id: str | None,
    category: str | None,
    effective_from: datetime,
    document: PolicyDocument,
    created_by: str,
) -> PolicyVersion:
    """A new version of the level's document (the next number); earlier versions never change. The
    level is locked by taking the highest version row `FOR UPDATE` (two writers get 1 and 2, or one
    fails the unique key and retries)."""
    level = level_of(merchant_id, category)
    scope = scope_of(level, merchant_id, category)
    last = session.scalar(select(func.max(PolicyVersionRow.version)).where(PolicyVersionRow.scope == scope))
    row = PolicyVersionRow(
        scope=scope,
        level=level,
        merchant_id=merchant_id,
        category=category,
        version=(last or 0) + 1,
        effective_from=effective_from,
        document=document.model_dump(mode="json", exclude_none=True),
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return _version(row)


def history(session: Session, merchant_id: str | None, category: str | None) -> list[PolicyVersion]:
    """Every version of one level, newest first."""
    scope = scope_of(level_of(merchant_id, category), merchant_id, category)
    rows = session.scalars(
        select(PolicyVersionRow)
        .where(PolicyVersionRow.scope == scope)
        .order_by(PolicyVersionRow.version.desc())
    )
    return [_version(row) for row in rows]


def in_force(
    session: Session, merchant_id: str | None, category: str | None, at: datetime
) -> list[PolicyVersion]:
    """The version in force at `at` of each level that applies (platform, the merchant, the merchant's
    category), least specific first: per level the highest version already effective."""
    found: list[PolicyVersion] = []
    for scope in _scopes(merchant_id, category):
        row = session.scalars(
            select(PolicyVersionRow)
            .where(PolicyVersionRow.scope == scope, PolicyVersionRow.effective_from <= at)
            .order_by(PolicyVersionRow.effective_from.desc(), PolicyVersionRow.version.desc())
            .limit(1)
        ).first()
        if row is not None:
            found.append(_version(row))
    return found


def generation(session: Session) -> int | None:
    """The newest version's id (None: none stored): versions are immutable, so what was in force at
    a time stays so until another version is stored."""
    return session.scalar(_NEWEST_VERSION)


# Built once (hot: read for every new case): the statement keeps its cache key between calls.
_NEWEST_VERSION = select(func.max(PolicyVersionRow.id))


def next_change(
    session: Session, merchant_id: str | None, category: str | None, at: datetime
) -> datetime | None:
    """When the next stored version of a level that applies takes effect after `at` (None: none)."""
    return session.scalar(
        select(func.min(PolicyVersionRow.effective_from)).where(
            PolicyVersionRow.scope.in_(_scopes(merchant_id, category)), PolicyVersionRow.effective_from > at
        )
    )


def _scopes(merchant_id: str | None, category: str | None) -> list[str]:
    scopes = [scope_of("platform", None, None)]
    if merchant_id is not None:
        scopes.append(scope_of("merchant", merchant_id, None))
        if category is not None:
            scopes.append(scope_of("category", merchant_id, category))
    return scopes


def _version(row: PolicyVersionRow) -> PolicyVersion:
    return PolicyVersion(
        level=row.level,
        merchant_id=row.merchant_id,
        category=row.category,
        version=row.version,
        effective_from=row.effective_from,
        document=PolicyDocument.model_validate(row.document),
        created_at=row.created_at,
        created_by=row.created_by,
    )
