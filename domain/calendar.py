"""Business-calendar arithmetic: working hours in a time zone, with holidays and make-up days. Pure.

Standard library (plus pydantic) only, so the workflow can run it on a `CalendarSnapshot` an activity
built: the snapshot carries the data (working periods, closed and make-up dates), this module only
computes, deterministically and without I/O beyond reading tzdata the first time a zone is used.

Workflows must import it under `workflow.unsafe.imports_passed_through()`. Re-imported inside the
sandbox instead, its `ZoneInfo` is the sandbox's restricted proxy and the workflow task fails with
"tzinfo argument must be None or of a tzinfo subclass, not type '_RestrictedProxy'". Passed through
(as in tests/test_calendar_in_sandbox.py), `zone()` returns real `ZoneInfo`
objects, cached here (the default zone already at import time), and `CalendarSnapshot.tz` is one of
them: workflow code can use it with `datetime.combine` but should never build a `ZoneInfo` itself.

Working periods are local wall-clock time. All arithmetic runs on UTC instants — subtracting or
comparing two datetimes that share a tzinfo ignores DST in Python — and results come back in the
calendar's zone. Where a period boundary falls on a wall time that does not exist (the spring-forward
gap) it is the instant the clock jumps; where it occurs twice (autumn), its first occurrence. So a
period spanning a DST change is an hour shorter or longer in real time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from itertools import pairwise
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from domain.modelbase import DomainModel

DAY_MINUTES = 24 * 60
SEARCH_DAYS = 3 * 366  # give up looking for working time after this long
DEFAULT_TIMEZONE = "Asia/Shanghai"
_ZERO = timedelta(0)
_DAY = timedelta(days=1)
_MEMO_DAYS = 4096  # per snapshot; cleared when full (a case rarely touches more than a few hundred days)

Span = tuple[datetime, datetime]

_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name, cached here; ValueError for an unknown name."""
    found = _ZONES.get(name)
    if found is None:
        try:
            found = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as err:
            raise ValueError(f"unknown time zone {name!r}") from err
        _ZONES[name] = found
    return found


# Warm the cache at import time (outside any workflow) for the zones the shipped calendars use.
zone(DEFAULT_TIMEZONE)
zone("UTC")


def _minutes(hhmm: str) -> int:
    """'09:30' → 570; '24:00' → 1440 (the end of the day)."""
    hours, sep, mins = hhmm.strip().partition(":")
    if not (sep and hours.isdigit() and mins.isdigit() and len(mins) == 2):
        raise ValueError(f"expected HH:MM, got {hhmm!r}")
    h, m = int(hours), int(mins)
    if m >= 60 or h > 24 or (h == 24 and m):
        raise ValueError(f"not a time of day: {hhmm!r}")
    return h * 60 + m


class WorkingPeriod(DomainModel):
    """A local wall-clock period of a day in minutes since midnight; `end` may be 1440 (midnight)."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0, le=DAY_MINUTES)
    end: int = Field(ge=0, le=DAY_MINUTES)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start >= self.end:
            raise ValueError("a working period must start before it ends")
        return self

    @classmethod
    def of(cls, start: str, end: str) -> WorkingPeriod:
        """`WorkingPeriod.of("09:00", "18:00")`; "24:00" is allowed as an end."""
        return cls(start=_minutes(start), end=_minutes(end))

    @classmethod
    def parse(cls, text: str) -> WorkingPeriod:
        """'09:00-18:00' → WorkingPeriod(start=540, end=1080)."""
        first, sep, last = text.partition("-")
        if not sep:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
        return cls.of(first, last)

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def normalised_periods(periods: list[WorkingPeriod]) -> list[WorkingPeriod]:
    """Sorted, and refused when two overlap (touching is fine: 09:00-12:00 and 12:00-18:00)."""
    ordered = sorted(periods, key=lambda p: p.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"working periods {before} and {after} overlap")
    return ordered


@dataclass(slots=True)
class _Lookup:
    """What the arithmetic reads on every call, built once per snapshot."""

    tz: ZoneInfo
    weekly: tuple[tuple[WorkingPeriod, ...], ...]  # index = weekday
    workday: tuple[WorkingPeriod, ...]
    closed: frozenset[date]
    extra: frozenset[date]
    overrides: dict[date, tuple[WorkingPeriod, ...]]
    valid_from: date
    valid_to: date
    memo: dict[date, tuple[Span, ...]] = field(default_factory=dict)  # local date → UTC spans


class CalendarSnapshot(DomainModel):
    """Everything the arithmetic needs about one calendar over a horizon of dates.

    A day's periods: `date_overrides` if it has one; none on a closed date; on an extra working
    date its weekday's periods, or `workday_periods` when that weekday has none (a make-up Saturday);
    otherwise its weekday's. Outside [valid_from, valid_to] only the weekly rule applies.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    version: str = ""  # content hash set by the builder, so callers can tell snapshots apart
    timezone: str = DEFAULT_TIMEZONE
    weekly: dict[int, list[WorkingPeriod]] = Field(default_factory=dict)  # 0 = Monday … 6 = Sunday
    workday_periods: list[WorkingPeriod] = Field(default_factory=list)  # on a make-up weekend day
    closed_dates: list[date] = Field(default_factory=list)  # public holidays + merchant closures
    extra_working_dates: list[date] = Field(default_factory=list)  # 调休 make-up days + merchant extras
    date_overrides: dict[date, list[WorkingPeriod]] = Field(default_factory=dict)
    valid_from: date
    valid_to: date

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)  # also caches it, outside workflow code when the snapshot is built
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[int, list[WorkingPeriod]]) -> dict[int, list[WorkingPeriod]]:
        if any(not 0 <= day <= 6 for day in value):
            raise ValueError("weekly keys are weekdays 0 (Monday) to 6 (Sunday)")
        return {day: normalised_periods(periods) for day, periods in sorted(value.items())}

    @field_validator("workday_periods")
    @classmethod
    def _workday(cls, value: list[WorkingPeriod]) -> list[WorkingPeriod]:
        return normalised_periods(value)

    @field_validator("date_overrides")
    @classmethod
    def _overrides(cls, value: dict[date, list[WorkingPeriod]]) -> dict[date, list[WorkingPeriod]]:
        return {day: normalised_periods(periods) for day, periods in sorted(value.items())}

    @field_validator("closed_dates", "extra_working_dates")
    @classmethod
    def _dates(cls, value: list[date]) -> list[date]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.valid_from > self.valid_to:
            raise ValueError("valid_from is after valid_to")
        both = set(self.closed_dates) & set(self.extra_working_dates)
        if both:
            raise ValueError(f"dates both closed and working: {', '.join(map(str, sorted(both)))}")
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @cached_property
    def _lookup(self) -> _Lookup:
        return _Lookup(
            tz=self.tz,
            weekly=tuple(tuple(self.weekly.get(day, ())) for day in range(7)),
            workday=tuple(self.workday_periods),
            closed=frozenset(self.closed_dates),
            extra=frozenset(self.extra_working_dates),
            overrides={day: tuple(periods) for day, periods in self.date_overrides.items()},
            valid_from=self.valid_from,
            valid_to=self.valid_to,
        )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy must not inherit lookups cached from the original's (possibly updated) data."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("_lookup", None)
        copied.__dict__.pop("tz", None)
        return copied

    def periods_of(self, day: date) -> tuple[WorkingPeriod, ...]:
        """The wall-clock working periods of a local date (the rules in the class docstring)."""
        lookup = self._lookup
        weekly = lookup.weekly[day.weekday()]
        if not lookup.valid_from <= day <= lookup.valid_to:
            return weekly
        found = lookup.overrides.get(day)
        if found is not None:
            return found
        if day in lookup.closed:
            return ()
        if day in lookup.extra:
            return weekly or lookup.workday
        return weekly


# --- instants ----------------------------------------------------------------------------------


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"datetime {t.isoformat()} has no time zone")
    return t.astimezone(UTC)


def _instant(tz: ZoneInfo, day: date, minute: int) -> datetime:
    """The UTC instant at which the local wall clock of `day` first reads `minute` (1440 = midnight).

    An ambiguous wall time (autumn) is its first occurrence; a skipped one (spring) is the jump.
    """
    if minute == DAY_MINUTES:
        day, minute = day + _DAY, 0
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    utc = local.astimezone(UTC)  # fold=0: the earlier offset when ambiguous, the pre-jump one in a gap
    if utc.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return utc
    # In a gap: fold=1 maps to an instant before the jump, fold=0 to one after; bisect for the jump.
    before, after = local.replace(fold=1).astimezone(UTC), utc
    offset_after = after.astimezone(tz).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + timedelta(seconds=(after - before).total_seconds() // 2)
        if middle.astimezone(tz).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after


def _spans(cal: CalendarSnapshot, day: date) -> tuple[Span, ...]:
    """A local date's working periods as UTC instants, empty ones (inside a DST gap) dropped."""
    lookup = cal._lookup
    found = lookup.memo.get(day)
    if found is None:
        tz = lookup.tz
        pairs = ((_instant(tz, day, p.start), _instant(tz, day, p.end)) for p in cal.periods_of(day))
        found = tuple((start, end) for start, end in pairs if end > start)
        if len(lookup.memo) >= _MEMO_DAYS:
            lookup.memo.clear()
        lookup.memo[day] = found
    return found


def to_local(cal: CalendarSnapshot, t: datetime) -> datetime:
    return _utc(t).astimezone(cal.tz)


def local_date(cal: CalendarSnapshot, t: datetime) -> date:
    return to_local(cal, t).date()


def periods_on(cal: CalendarSnapshot, day: date) -> list[tuple[datetime, datetime]]:
    """The working periods of a local date, as aware datetimes in the calendar's zone."""
    tz = cal.tz
    return [(start.astimezone(tz), end.astimezone(tz)) for start, end in _spans(cal, day)]


def is_working_day(cal: CalendarSnapshot, day: date) -> bool:
    return bool(_spans(cal, day))


def is_working_time(cal: CalendarSnapshot, t: datetime) -> bool:
    """Inside a working period; a period's start counts, its end does not."""
    moment = _utc(t)
    day = moment.astimezone(cal.tz).date()
    return any(start <= moment < end for d in (day - _DAY, day) for start, end in _spans(cal, d))


def _walk(cal: CalendarSnapshot, moment: datetime) -> Iterator[Span]:
    """The working time from `moment` on, period by period and in order: (start clipped to moment, end)."""
    day = moment.astimezone(cal.tz).date() - _DAY  # a period of yesterday may still run
    try:
        for _ in range(SEARCH_DAYS):
            for start, end in _spans(cal, day):
                if end > moment:
                    yield max(start, moment), end
            day += _DAY
    except OverflowError:
        pass
    raise ValueError(f"calendar {cal.name!r} has no working time within {SEARCH_DAYS} days")


def next_working_moment(cal: CalendarSnapshot, t: datetime) -> datetime:
    """`t` itself when it is working time, else the start of the next working period."""
    for start, _end in _walk(cal, _utc(t)):
        return start.astimezone(cal.tz)
    raise AssertionError("unreachable: _walk raises when it finds nothing")


def next_day_start(cal: CalendarSnapshot, t: datetime) -> datetime:
    """The first working moment on a day after `t`'s local day (seed 003: tomorrow's callback)."""
    tomorrow = local_date(cal, t) + _DAY
    return next_working_moment(cal, _instant(cal.tz, tomorrow, 0))


def add_working_hours(cal: CalendarSnapshot, start: datetime, hours: timedelta) -> datetime:
    """The moment `hours` of working time after `start` (a deadline).

    Zero hours is `start` itself, even outside working time. When the budget runs out exactly at a
    period's end the answer is that end, not the next period's start: a limit met by the end of the
    day is due that evening, and `add(add(t, a), b) == add(t, a + b)` still holds as instants.
    """
    moment = _utc(start)
    if hours < _ZERO:
        raise ValueError("hours must not be negative")
    if hours == _ZERO:
        return moment.astimezone(cal.tz)
    remaining = hours
    for begin, end in _walk(cal, moment):
        available = end - begin
        if remaining <= available:
            return (begin + remaining).astimezone(cal.tz)
        remaining -= available
    raise AssertionError("unreachable: _walk raises when it finds nothing")


def working_time_between(cal: CalendarSnapshot, a: datetime, b: datetime) -> timedelta:
    """Working time in [a, b); zero when b is not after a."""
    first, last = _utc(a), _utc(b)
    total = _ZERO
    if last <= first:
        return total
    tz = cal.tz
    day, end_day = first.astimezone(tz).date() - _DAY, last.astimezone(tz).date()
    while day <= end_day:
        for start, end in _spans(cal, day):
            if start < last and end > first:
                total += min(end, last) - max(start, first)
        day += _DAY
    return total


def counting_start(cal: CalendarSnapshot, t: datetime, cutoff: time | None = time(18, 0)) -> datetime:
    """When a message received at `t` starts counting (seed 003: after 18:00 → next working day).

    At or after the local cutoff: the first period of the next working day, even if the calendar is
    still working (the service desk until 23:00). Before it: `t` in working time, else the next
    working moment — which is that day's or the next working day's first period, or the end of a
    break within the day (a message at 12:30 on a lunch-break calendar counts from 13:30).
    `cutoff=None` means no cutoff.
    """
    local = to_local(cal, t)
    if cutoff is not None and local.time() >= cutoff:
        return next_working_moment(cal, _instant(cal.tz, local.date() + _DAY, 0))
    return next_working_moment(cal, t)


def add_calendar_hours(start: datetime, hours: timedelta) -> datetime:
    """Calendar-hour limits (the customer's 72 h) need no calendar: real elapsed time, in start's zone.

    Added on the UTC instant: `aware + timedelta` in a DST zone would add wall-clock time instead.
    """
    if hours < _ZERO:
        raise ValueError("hours must not be negative")
    return (_utc(start) + hours).astimezone(start.tzinfo)
