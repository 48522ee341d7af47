"""Calendar overrides (closed or extra working days) and working hours, platform-wide or one
merchant's; the latest write of a scope wins, also when two admins write at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import partial

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import Session

from store.common import get_or_insert, utcnow
from store.models import CalendarHoursRow, CalendarOverrideRow

CALENDAR_OVERRIDE_KINDS = ("closed", "working")


def add_calendar_override(
    session: Session, calendar: str, merchant_id: str | None, day: date, kind: str, note: str = ""
) -> CalendarOverrideRow:
    """Close a working day or open a closed one; merchant_id None means platform-wide.

    Idempotent per (calendar, merchant, date): the latest kind and note win, also when two admins
    add the same date at once.
    """
    if kind not in CALENDAR_OVERRIDE_KINDS:
        raise ValueError(f"calendar override kind must be one of {', '.join(CALENDAR_OVERRIDE_KINDS)}")
    merchant_id = merchant_id or None
    row, inserted = get_or_insert(
        session,
        partial(_calendar_override, session, calendar, merchant_id, day),
        lambda: CalendarOverrideRow(
            calendar=calendar, merchant_id=merchant_id, date=day, kind=kind, note=note, created_at=utcnow()
        ),
    )
    if not inserted:
        row.kind, row.note = kind, note
        session.flush()
    return row


def _calendar_override(
    session: Session, calendar: str, merchant_id: str | None, day: date
) -> CalendarOverrideRow | None:
    return session.scalar(
        select(CalendarOverrideRow)
        .where(
            CalendarOverrideRow.calendar == calendar,
            _merchant_scope(merchant_id),
            CalendarOverrideRow.date == day,
        )
        .execution_options(populate_existing=True)
    )


def _merchant_scope(merchant_id: str | None) -> ColumnElement[bool]:
    if merchant_id:
        return CalendarOverrideRow.merchant_id == merchant_id
    return CalendarOverrideRow.merchant_id.is_(None)


def list_calendar_overrides(
    session: Session, calendar: str, merchant_id: str | None = None
) -> Sequence[CalendarOverrideRow]:
    """One scope's overrides by date: the platform's (merchant_id None) or one merchant's own."""
    return list(
        session.scalars(
            select(CalendarOverrideRow)
            .where(CalendarOverrideRow.calendar == calendar, _merchant_scope(merchant_id))
            .order_by(CalendarOverrideRow.date)
        )
    )


def overrides_in_scope(
    session: Session, calendars: Sequence[str], merchant_id: str | None
) -> Sequence[CalendarOverrideRow]:
    """What a case of the merchant reads, for several calendars in one query: the platform's
    overrides and, with a merchant, the merchant's own; by date."""
    return list(
        session.scalars(
            select(CalendarOverrideRow)
            .where(CalendarOverrideRow.calendar.in_(calendars))
            .where(_platform_or(CalendarOverrideRow, merchant_id))
            .order_by(CalendarOverrideRow.date)
        )
    )


def hours_in_scope(
    session: Session, calendars: Sequence[str], merchant_id: str | None
) -> Sequence[CalendarHoursRow]:
    """The stored hours of several calendars in one query: the platform's and, with a merchant, the
    merchant's own (which of them applies is the caller's rule)."""
    return list(
        session.scalars(
            select(CalendarHoursRow)
            .where(CalendarHoursRow.calendar.in_(calendars))
            .where(_platform_or(CalendarHoursRow, merchant_id))
            .execution_options(populate_existing=True)
        )
    )


def _platform_or(
    model: type[CalendarOverrideRow] | type[CalendarHoursRow], merchant_id: str | None
) -> ColumnElement[bool]:
    platform = model.merchant_id.is_(None)
    return or_(platform, model.merchant_id == merchant_id) if merchant_id else platform


def _hours_scope(merchant_id: str | None) -> ColumnElement[bool]:
    if merchant_id:
        return CalendarHoursRow.merchant_id == merchant_id
    return CalendarHoursRow.merchant_id.is_(None)


def get_calendar_hours(session: Session, calendar: str, merchant_id: str | None) -> CalendarHoursRow | None:
    """One scope's stored hours: the platform's (merchant_id None) or one merchant's own."""
    return session.scalar(
        select(CalendarHoursRow)
        .where(CalendarHoursRow.calendar == calendar, _hours_scope(merchant_id))
        .execution_options(populate_existing=True)
    )


def set_calendar_hours(
    session: Session,
    calendar: str,
    merchant_id: str | None,
    weekly: dict[str, list[str]],
    workday_periods: list[str] | None = None,
    timezone: str | None = None,
    note: str = "",
) -> CalendarHoursRow:
    """Replace a scope's working hours (validated by the caller); the latest write wins."""
    merchant_id = merchant_id or None
    values = {"weekly": weekly, "workday_periods": workday_periods, "timezone": timezone, "note": note}
    row, inserted = get_or_insert(
        session,
        partial(get_calendar_hours, session, calendar, merchant_id),
        lambda: CalendarHoursRow(calendar=calendar, merchant_id=merchant_id, updated_at=utcnow(), **values),
    )
    if not inserted:  # stored before, maybe by a concurrent first write: overwrite it
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
        session.flush()
    return row


def clear_calendar_hours(session: Session, calendar: str, merchant_id: str | None) -> bool:
    """Back to the calendar's standard hours (or the platform's, for a merchant); False if none were set."""
    result = session.execute(
        delete(CalendarHoursRow).where(CalendarHoursRow.calendar == calendar, _hours_scope(merchant_id))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
