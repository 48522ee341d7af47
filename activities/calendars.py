"""Calendar snapshots for the workflow: the `holidays` data and stored overrides, read here, not there."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.definition import defn
from domain.calendar_source import CalendarOverrides, CalendarSnapshot, WorkingHours, build_snapshot
from store import calendars, freezes
from store.db import reading


class CalendarActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        # Reads only: on SQLite these never queue behind (or hold up) the worker's store writes.
        self._sessions = reading(sessions)

    @defn(name=c.LOAD_CALENDARS)
    def load_calendars(self, request: c.CalendarRequest) -> c.CalendarBundle:
        end = request.start + timedelta(days=request.days)
        with self._sessions() as session:
            overrides = {name: overrides_for(session, name, request.merchant_id) for name in request.names}
            frozen = freezes.active_freeze(session, request.merchant_id, request.region)
        # Built after the session is back in the pool: two years of holidays are the costly part.
        snapshots = {name: snapshot_of(name, request.start, end, overrides[name]) for name in request.names}
        return c.CalendarBundle(snapshots=snapshots, frozen=frozen)


def snapshot_of(name: str, start: date, end: date, overrides: CalendarOverrides | None) -> CalendarSnapshot:
    """`build_snapshot`, remembered per worker: cases opened the same day ask for the same span."""
    key = overrides.model_dump_json() if overrides is not None else None
    return _snapshot(name, start, end, key)


@lru_cache(maxsize=256)
def _snapshot(name: str, start: date, end: date, overrides_json: str | None) -> CalendarSnapshot:
    overrides = CalendarOverrides.model_validate_json(overrides_json) if overrides_json is not None else None
    return build_snapshot(name, start, end, overrides)


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
