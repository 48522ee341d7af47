"""Calendar snapshots for the workflow: the `holidays` data and stored overrides, read here, not there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.definition import defn
from domain.calendar_source import CalendarOverrides, CalendarSnapshot, WorkingHours, build_snapshot
from store import calendars, freezes
from store.db import reading
from store.models import CalendarHoursRow


class CalendarActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        # Reads only: on SQLite these never queue behind (or hold up) the worker's store writes.
        self._sessions = reading(sessions)

    @defn(name=c.LOAD_CALENDARS)
    def load_calendars(self, request: c.CalendarRequest) -> c.CalendarBundle:
        end = request.start + timedelta(days=request.days)
        with self._sessions() as session:
            overrides = overrides_of(session, request.names, request.merchant_id)
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
    return overrides_of(session, [name], merchant_id)[name]


def overrides_of(
    session: Session, names: Sequence[str], merchant_id: str | None
) -> dict[str, CalendarOverrides | None]:
    """`overrides_for` of several calendars, read in two queries (a case start reads each of its
    calendars): None for a calendar with nothing stored."""
    rows = calendars.overrides_in_scope(session, names, merchant_id)
    stored_hours = calendars.hours_in_scope(session, names, merchant_id)
    found: dict[str, CalendarOverrides | None] = {}
    for name in names:
        dates = [r for r in rows if r.calendar == name]
        hours = _effective([h for h in stored_hours if h.calendar == name])
        if not dates and hours is None:
            found[name] = None
            continue
        base = hours.overrides() if hours is not None else CalendarOverrides()
        found[name] = base.model_copy(
            update={
                "extra_closed_dates": sorted({r.date for r in dates if r.kind == "closed"}),
                "extra_working_dates": sorted({r.date for r in dates if r.kind == "working"}),
            }
        )
    return found


def effective_hours(session: Session, name: str, merchant_id: str | None) -> WorkingHours | None:
    """The merchant's stored hours, else the platform's, else None (the calendar's standard hours)."""
    return _effective(calendars.hours_in_scope(session, [name], merchant_id))


def _effective(rows: Sequence[CalendarHoursRow]) -> WorkingHours | None:
    """Of one calendar's stored hours in scope (the platform's, the merchant's), the merchant's."""
    row = max(rows, key=lambda r: r.merchant_id is not None, default=None)
    if row is None:
        return None
    return WorkingHours(weekly=row.weekly, workday_periods=row.workday_periods, timezone=row.timezone)
