"""Calendar snapshots for the workflow: the `holidays` data and stored overrides, read here, not there."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities import contracts as c
from domain.calendar_source import CalendarOverrides, WorkingHours, build_snapshot
from store import calendars, freezes


class CalendarActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name=c.LOAD_CALENDARS)
    def load_calendars(self, request: c.CalendarRequest) -> c.CalendarBundle:
        end = request.start + timedelta(days=request.days)
        snapshots = {}
        with self._sessions() as session:
            for name in request.names:
                overrides = overrides_for(session, name, request.merchant_id)
                snapshots[name] = build_snapshot(name, request.start, end, overrides)
            frozen = freezes.active_freeze(session, request.merchant_id, request.region)
        return c.CalendarBundle(snapshots=snapshots, frozen=frozen)


def overrides_for(session: Session, name: str, merchant_id: str | None) -> CalendarOverrides | None:
    """Platform-wide overrides of a calendar plus the merchant's own: dates add up, and the
    merchant's working hours (if stored) replace the platform's."""
    rows = list(calendars.list_calendar_overrides(session, name, None))
    if merchant_id:
        rows += [r for r in calendars.list_calendar_overrides(session, name, merchant_id) if r.merchant_id]
    hours = effective_hours(session, name, merchant_id)
    if not rows and hours is None:
        return None
    base = hours.overrides() if hours is not None else CalendarOverrides()
    return base.model_copy(
        update={
            "extra_closed_dates": sorted({r.date for r in rows if r.kind == "closed"}),
            "extra_working_dates": sorted({r.date for r in rows if r.kind == "working"}),
        }
    )


def effective_hours(session: Session, name: str, merchant_id: str | None) -> WorkingHours | None:
    """The merchant's stored hours, else the platform's, else None (the calendar's standard hours)."""
    row = calendars.get_calendar_hours(session, name, merchant_id) if merchant_id else None
    row = row or calendars.get_calendar_hours(session, name, None)
    if row is None:
        return None
    return WorkingHours(weekly=row.weekly, workday_periods=row.workday_periods, timezone=row.timezone)
