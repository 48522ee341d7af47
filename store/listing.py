"""Finding cases: filtered, keyset-paginated pages for the API, and the open cases a freeze, a
thaw or a calendar change signals."""

from __future__ import annotations

import base64
from datetime import date, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from domain.enums import CaseStatus
from store import freezes
from store.models import CaseRow, FreezeRow, ReportCaseRow

MAX_PAGE = 500


def encode_cursor(at: datetime, key: str) -> str:
    """An opaque, URL-safe keyset cursor: the (time, id) of the last row of a page."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, case_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("cursor is not one this API returned") from err
    if moment.tzinfo is None or not case_id:
        raise ValueError("cursor is not one this API returned")
    return moment, case_id


def list_cases(
    session: Session,
    *,
    status: str | None = None,
    step: str | None = None,
    issue_type: str | None = None,
    merchant_id: str | None = None,
    region: str | None = None,
    breached: bool | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    reason: str | None = None,
    queue: str | None = None,
    assigned_to: str | None = None,
    category: str | None = None,
    channel: str | None = None,
    closed_from: date | None = None,
    closed_to: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CaseRow], str | None]:
    """Newest first, keyset-paginated on (created_at, case_id): stable under concurrent inserts.

    The cursor is the position of the last row returned, so a page never repeats or skips a row that
    existed when the first page was read; cases created meanwhile appear only if they sort later.
    `created_from` is inclusive, `created_to` exclusive; `closed_from` and `closed_to` are days in
    the platform's time zone, both inclusive (the cases a report's figure counted, from its facts).
    Raises ValueError for a foreign cursor.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    query = select(CaseRow)
    filters = {
        CaseRow.status: status,
        CaseRow.step: step,
        CaseRow.issue_type: issue_type,
        CaseRow.merchant_id: merchant_id,
        CaseRow.region: region,
        CaseRow.sla_breached: breached,
        CaseRow.reason: reason,
        CaseRow.queue: queue,
        CaseRow.assigned_to: assigned_to,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if created_from is not None:
        query = query.where(CaseRow.created_at >= created_from)
    if created_to is not None:
        query = query.where(CaseRow.created_at < created_to)
    facts = {ReportCaseRow.category: category, ReportCaseRow.channel: channel}
    facts_filters = [column == value for column, value in facts.items() if value is not None]
    if closed_from is not None:
        facts_filters.append(ReportCaseRow.closed_on >= closed_from)
    if closed_to is not None:
        facts_filters.append(ReportCaseRow.closed_on <= closed_to)
    if facts_filters:
        query = query.where(CaseRow.case_id.in_(select(ReportCaseRow.case_id).where(*facts_filters)))
    if cursor:
        at, case_id = decode_cursor(cursor)
        query = query.where(
            or_(CaseRow.created_at < at, and_(CaseRow.created_at == at, CaseRow.case_id < case_id))
        )
    rows = list(
        session.scalars(query.order_by(CaseRow.created_at.desc(), CaseRow.case_id.desc()).limit(limit + 1))
    )
    next_cursor = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].case_id) if len(rows) > limit else None
    )
    return rows[:limit], next_cursor


def open_case_workflow_ids(
    session: Session,
    *,
    merchant_id: str | None = None,
    region: str | None = None,
    frozen: bool | None = None,
) -> list[str]:
    """Workflow ids of the cases not closed, of one merchant and/or region (None: every one);
    `frozen` True/False keeps only the cases a stored freeze covers / does not cover.

    What a freeze, a thaw or a calendar change signals: the store knows a case from the moment the
    API accepts it, and a case closed meanwhile just answers the signal with "not found".
    """
    query = select(CaseRow.workflow_id).where(CaseRow.status != str(CaseStatus.CLOSED))
    if merchant_id is not None:
        query = query.where(CaseRow.merchant_id == merchant_id)
    if region is not None:
        query = query.where(CaseRow.region == region)
    if frozen is not None:
        covered = (
            select(FreezeRow.scope).where(freezes.freeze_covers(CaseRow.merchant_id, CaseRow.region)).exists()
        )
        query = query.where(covered if frozen else ~covered)
    return list(session.scalars(query.order_by(CaseRow.workflow_id)))
