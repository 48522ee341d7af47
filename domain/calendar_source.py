"""Builds calendar snapshots from the `holidays` library and stored overrides.

Not imported by workflows: `holidays` cannot run in the workflow sandbox, and its data changes
between releases — a running case keeps the snapshot an activity gave it until told to reload.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import holidays
from pydantic import ConfigDict, Field, field_validator

from domain.calendar import DEFAULT_TIMEZONE, CalendarSnapshot, WorkingPeriod, normalised_periods, zone
from domain.modelbase import DomainModel

BUSINESS = "business"
SERVICE_DESK = "service_desk"
DEFAULT_CALENDARS: dict[str, str] = {
    BUSINESS: "09:00-18:00 Asia/Shanghai on China's working days: Mon-Fri minus public holidays, "
    "plus make-up working days (调休); merchants, supervisors, dispute team",
    SERVICE_DESK: "09:00-23:00 Asia/Shanghai every day (seed 003); agents' first response and callbacks",
}
OFFICE_HOURS = [WorkingPeriod.of("09:00", "18:00")]
DESK_HOURS = [WorkingPeriod.of("09:00", "23:00")]


class CalendarOverrides(DomainModel):
    """Per-merchant (or platform-wide) changes on top of a named calendar.

    A date in both lists is a working day (the more specific "we open that day" wins).
    `workday_periods` are the hours of a make-up day that falls on a day `weekly` leaves empty;
    when `weekly` is replaced without them, the first Monday-to-Friday hours of `weekly` are used.
    """

    extra_closed_dates: list[date] = Field(default_factory=list)
    extra_working_dates: list[date] = Field(default_factory=list)
    weekly: dict[int, list[WorkingPeriod]] | None = None
    workday_periods: list[WorkingPeriod] | None = None
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Periods = list[str]


def _periods(texts: Periods) -> list[WorkingPeriod]:
    return normalised_periods([WorkingPeriod.parse(text) for text in texts])


class WorkingHours(DomainModel):
    """Other opening hours of a calendar, as an admin types them and the store keeps them.

    `weekly` maps "mon" … "sun" to "HH:MM-HH:MM" periods (several a day allowed, e.g. a lunch break);
    a day left out is closed. `workday_periods` are the hours of a make-up working day (调休) that
    falls on a closed weekday; by default the first Monday-to-Friday hours.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekly: dict[str, Periods] = Field(
        examples=[{"mon": ["09:00-12:00", "13:30-18:00"], "sat": ["10:00-16:00"]}]
    )
    workday_periods: Periods | None = None
    timezone: str | None = Field(default=None, examples=["Asia/Shanghai"])

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, Periods]) -> dict[str, Periods]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday(s) {', '.join(unknown)}; use {', '.join(WEEKDAYS)}")
        days = {day: [str(p) for p in _periods(texts)] for day, texts in value.items()}
        if not any(days.values()):
            raise ValueError("at least one weekday needs working hours")
        return {day: days[day] for day in WEEKDAYS if days.get(day)}

    @field_validator("workday_periods")
    @classmethod
    def _workday(cls, value: Periods | None) -> Periods | None:
        if value is None:
            return None
        if not value:
            raise ValueError("workday_periods, when given, needs at least one period")
        return [str(p) for p in _periods(value)]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    def overrides(self) -> CalendarOverrides:
        """The same hours as calendar overrides (no date changes)."""
        return CalendarOverrides(
            weekly={WEEKDAYS.index(day): _periods(texts) for day, texts in self.weekly.items()},
            workday_periods=_periods(self.workday_periods) if self.workday_periods else None,
            timezone=self.timezone,
        )


def public_days(country: str, start: date, end: date) -> tuple[list[date], list[date], frozenset[int]]:
    """Public holidays, make-up working days (调休, weekend days worked) in [start, end], and the
    country's weekend weekdays, from the `holidays` library.

    Only countries whose holidays class has `weekend_workdays` (China among them) have make-up days.
    For years the State Council has not published yet the library estimates the holidays from the
    statutory rules and knows no make-up days.
    """
    try:
        calendar = holidays.country_holidays(country, years=range(start.year, end.year + 1))
    except NotImplementedError as err:
        raise ValueError(f"the holidays library has no calendar for country {country!r}") from err
    closed = sorted(d for d in calendar if start <= d <= end)
    makeup = sorted(d for d in getattr(calendar, "weekend_workdays", ()) if start <= d <= end)
    return closed, makeup, frozenset(calendar.weekend)


def snapshot_version(snapshot: CalendarSnapshot) -> str:
    """First 12 hex digits of the sha256 of the snapshot's canonical JSON (everything but `version`)."""
    content = snapshot.model_dump(mode="json", exclude={"version"})
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def build_snapshot(
    name: str, start: date, end: date, overrides: CalendarOverrides | None = None, country: str = "CN"
) -> CalendarSnapshot:
    """The named calendar over [start, end], with the country's holidays and the overrides applied."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    if name == BUSINESS:
        closed, makeup, weekend = public_days(country, start, end)
        weekly = {day: OFFICE_HOURS for day in range(7) if day not in weekend}
        workday = OFFICE_HOURS
    elif name == SERVICE_DESK:
        weekly = {day: DESK_HOURS for day in range(7)}
        closed, makeup, workday = [], [], DESK_HOURS
    else:
        raise ValueError(f"unknown calendar {name!r}; known: {', '.join(DEFAULT_CALENDARS)}")
    timezone = DEFAULT_TIMEZONE
    if overrides is not None:
        in_range = {d for d in overrides.extra_working_dates if start <= d <= end}
        shut = {d for d in overrides.extra_closed_dates if start <= d <= end} - in_range
        closed = sorted((set(closed) | shut) - in_range)
        makeup = sorted((set(makeup) - shut) | in_range)
        if overrides.weekly is not None:
            weekly = overrides.weekly
            typical = next((weekly[d] for d in range(5) if weekly.get(d)), workday)
            workday = overrides.workday_periods if overrides.workday_periods is not None else typical
        elif overrides.workday_periods is not None:
            workday = overrides.workday_periods
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
    # Hash the validated (normalised) content, then build once more: no cached lookups to carry over.
    return CalendarSnapshot.model_validate({**snapshot.model_dump(), "version": snapshot_version(snapshot)})
