"""Builds calendar snapshots from the `holidays` library and stored overrides.

Not imported by workflows: `holidays` cannot run in the workflow sandbox, and its data changes
between releases — a running case keeps the snapshot an activity gave it until told to reload.
"""

from __future__ import annotations

import hashlib
from datetime import date

import holidays
from pydantic import BaseModel, Field

from domain.calendar import CalendarSnapshot, WorkingPeriod

BUSINESS = "business"
SERVICE_DESK = "service_desk"
DEFAULT_CALENDARS: dict[str, str] = {
    BUSINESS: "09:00-18:00 Asia/Shanghai on China's working days: Mon-Fri minus public holidays, "
    "plus make-up working days (调休); merchants, supervisors, dispute team",
    SERVICE_DESK: "09:00-23:00 Asia/Shanghai every day (seed 003); agents' first response and callbacks",
}
OFFICE_HOURS = [WorkingPeriod.parse("09:00-18:00")]
DESK_HOURS = [WorkingPeriod.parse("09:00-23:00")]


class CalendarOverrides(BaseModel):
    """Per-merchant (or platform-wide) changes on top of a named calendar."""

    extra_closed_dates: list[date] = Field(default_factory=list)
    extra_working_dates: list[date] = Field(default_factory=list)
    weekly: dict[int, list[WorkingPeriod]] | None = None
    timezone: str | None = None


def _china_days(start: date, end: date) -> tuple[list[date], list[date]]:
    """Public holidays and make-up working days (weekend days that are worked) in [start, end]."""
    calendar = holidays.country_holidays("CN", years=range(start.year, end.year + 1))
    closed = sorted(d for d in calendar if start <= d <= end)
    makeup = sorted(d for d in getattr(calendar, "weekend_workdays", set()) if start <= d <= end)
    return closed, makeup


def build_snapshot(
    name: str, start: date, end: date, overrides: CalendarOverrides | None = None
) -> CalendarSnapshot:
    if name == BUSINESS:
        weekly = {day: OFFICE_HOURS for day in range(5)}
        closed, makeup = _china_days(start, end)
        workday = OFFICE_HOURS
    elif name == SERVICE_DESK:
        weekly = {day: DESK_HOURS for day in range(7)}
        closed, makeup, workday = [], [], DESK_HOURS
    else:
        raise ValueError(f"unknown calendar {name!r}; known: {', '.join(DEFAULT_CALENDARS)}")
    timezone = "Asia/Shanghai"
    if overrides is not None:
        extra_working = set(overrides.extra_working_dates)
        closed = sorted((set(closed) | set(overrides.extra_closed_dates)) - extra_working)
        makeup = sorted((set(makeup) - set(overrides.extra_closed_dates)) | extra_working)
        weekly = overrides.weekly if overrides.weekly is not None else weekly
        timezone = overrides.timezone or timezone
    snapshot = CalendarSnapshot(
        name=name,
        timezone=timezone,
        weekly=weekly,
        workday_periods=workday,
        closed_dates=closed,
        extra_working_dates=makeup,
        valid_from=start,
        valid_to=end,
    )
    content = snapshot.model_dump_json(exclude={"version", "valid_from", "valid_to"})
    return snapshot.model_copy(update={"version": hashlib.sha256(content.encode()).hexdigest()[:12]})
