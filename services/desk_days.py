"""The next day the service desk works (seed 003): when a callback is due. Read from the stored
calendar (platform-wide working hours and dates) with the holiday data, outside workflow code."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from activities.calendars import overrides_for
from domain import calendar as cal
from domain.calendar_source import SERVICE_DESK, build_snapshot


def next_desk_day(session: Session, now: datetime) -> datetime:
    """The start of the first desk period on a day after `now`'s (local) day."""
    today = now.date()
    desk = build_snapshot(
        SERVICE_DESK,
        today - timedelta(days=1),
        today + timedelta(days=60),
        overrides_for(session, SERVICE_DESK, None),
    )
    return cal.next_day_start(desk, now)
