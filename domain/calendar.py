"""Business-calendar arithmetic: working hours in a time zone, with holidays and make-up days. Pure.

Standard library only, so the workflow can import it (passed through the sandbox) and run it on a
`CalendarSnapshot` that an activity built: the snapshot carries the data (working periods, closed
and make-up dates), this module only computes. All arithmetic runs on UTC instants — subtracting
two aware datetimes of one zone in Python ignores DST — and results come back in the calendar's zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY_MINUTES = 24 * 60
SEARCH_DAYS = 3 * 366  # give up looking for working time after this long


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class WorkingPeriod(BaseModel):
    """A local wall-clock period of a day, in minutes since midnight (end may be 1440)."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0, le=DAY_MINUTES)
    end: int = Field(ge=0, le=DAY_MINUTES)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingPeriod:
        if self.start >= self.end:
            raise ValueError("a working period must start before it ends")
        return self

    @classmethod
    def parse(cls, text: str) -> WorkingPeriod:
        """'09:00-18:00' → WorkingPeriod(540, 1080); '24:00' is allowed as an end."""
        first, _, last = text.partition("-")

        def minutes(hhmm: str) -> int:
            hours, _, mins = hhmm.strip().partition(":")
            return int(hours) * 60 + int(mins or 0)

        return cls(start=minutes(first), end=minutes(last))

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


class CalendarSnapshot(BaseModel):
    """Everything the arithmetic needs about one calendar over a horizon of dates."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str = ""
    timezone: str = "Asia/Shanghai"
    weekly: dict[int, list[WorkingPeriod]] = Field(default_factory=dict)  # 0 = Monday
    workday_periods: list[WorkingPeriod] = Field(default_factory=list)  # on a make-up weekend day
    closed_dates: list[date] = Field(default_factory=list)
    extra_working_dates: list[date] = Field(default_factory=list)
    date_overrides: dict[date, list[WorkingPeriod]] = Field(default_factory=dict)
    valid_from: date
    valid_to: date

    @cached_property
    def _closed(self) -> frozenset[date]:
        return frozenset(self.closed_dates)

    @cached_property
    def _extra(self) -> frozenset[date]:
        return frozenset(self.extra_working_dates)

    @cached_property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def periods_of(self, day: date) -> list[WorkingPeriod]:
        if day in self.date_overrides:
            return self.date_overrides[day]
        if day in self._extra:
            return self.weekly.get(day.weekday()) or self.workday_periods
        if day in self._closed:
            return []
        return self.weekly.get(day.weekday(), [])


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"datetime {t.isoformat()} has no time zone")
    return t.astimezone(UTC)


def _wall(cal: CalendarSnapshot, day: date, minute: int) -> datetime:
    """The UTC instant of a local wall-clock minute of a day (minute 1440 = next midnight)."""
    if minute == DAY_MINUTES:
        day, minute = day + timedelta(days=1), 0
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=cal.tz)
    return local.astimezone(UTC)


def _utc_periods(cal: CalendarSnapshot, day: date) -> list[tuple[datetime, datetime]]:
    return [(_wall(cal, day, p.start), _wall(cal, day, p.end)) for p in cal.periods_of(day)]


def to_local(cal: CalendarSnapshot, t: datetime) -> datetime:
    return _aware(t).astimezone(cal.tz)


def local_date(cal: CalendarSnapshot, t: datetime) -> date:
    return to_local(cal, t).date()


def periods_on(cal: CalendarSnapshot, day: date) -> list[tuple[datetime, datetime]]:
    """The working periods of a local date, as aware datetimes in the calendar's zone."""
    return [(s.astimezone(cal.tz), e.astimezone(cal.tz)) for s, e in _utc_periods(cal, day)]


def is_working_day(cal: CalendarSnapshot, day: date) -> bool:
    return bool(cal.periods_of(day))


def is_working_time(cal: CalendarSnapshot, t: datetime) -> bool:
    moment = _aware(t)
    day = local_date(cal, moment)
    return any(s <= moment < e for s, e in _utc_periods(cal, day))


def _walk(cal: CalendarSnapshot, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The working time from `moment` on, period by period: (start clipped to moment, end)."""
    day = local_date(cal, moment) - timedelta(days=1)  # a period of yesterday may still run
    for _ in range(SEARCH_DAYS):
        for start, end in _utc_periods(cal, day):
            if end > moment:
                yield max(start, moment), end
        day += timedelta(days=1)
    raise ValueError(f"calendar {cal.name!r} has no working time within {SEARCH_DAYS} days")


def next_working_moment(cal: CalendarSnapshot, t: datetime) -> datetime:
    """`t` itself when it is working time, else the start of the next working period."""
    moment = _aware(t)
    for start, _end in _walk(cal, moment):
        return start.astimezone(cal.tz)
    raise AssertionError("unreachable")


def add_working_hours(cal: CalendarSnapshot, start: datetime, hours: timedelta) -> datetime:
    """The moment `hours` of working time after `start` (a deadline).

    Zero hours is `start` itself. When the budget runs out exactly at a period's end, the answer
    is that end, not the next period's start.
    """
    moment = _aware(start)
    if hours < timedelta(0):
        raise ValueError("hours must not be negative")
    if hours == timedelta(0):
        return moment.astimezone(cal.tz)
    remaining = hours
    for begin, end in _walk(cal, moment):
        available = end - begin
        if remaining <= available:
            return (begin + remaining).astimezone(cal.tz)
        remaining -= available
    raise AssertionError("unreachable")


def working_time_between(cal: CalendarSnapshot, a: datetime, b: datetime) -> timedelta:
    """Working time in [a, b); zero when b is not after a."""
    first, last = _aware(a), _aware(b)
    total = timedelta(0)
    if last <= first:
        return total
    day = local_date(cal, first) - timedelta(days=1)
    end_day = local_date(cal, last)
    while day <= end_day:
        for start, end in _utc_periods(cal, day):
            overlap = min(end, last) - max(start, first)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


def counting_start(cal: CalendarSnapshot, t: datetime, cutoff: time | None = time(18, 0)) -> datetime:
    """When a message received at `t` starts counting (seed 003).

    After the cutoff (local), it counts from the first working period of the next working day;
    outside working time before the cutoff, from the next working moment; otherwise from `t`.
    """
    local = to_local(cal, t)
    if cutoff is not None and local.time() >= cutoff:
        next_day = local.date() + timedelta(days=1)
        return next_working_moment(cal, datetime.combine(next_day, time(0), tzinfo=cal.tz))
    return next_working_moment(cal, t)


def add_calendar_hours(start: datetime, hours: timedelta) -> datetime:
    """Calendar-hour limits (e.g. the customer's 72 h) need no calendar."""
    return _aware(start).astimezone(start.tzinfo) + hours
