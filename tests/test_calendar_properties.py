"""Properties of the working-hour arithmetic over several calendars and the whole of 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import calendar as cal
from domain.calendar import CalendarSnapshot, WorkingPeriod
from domain.calendar_source import BUSINESS, SERVICE_DESK, build_snapshot

START, END = date(2025, 12, 1), date(2028, 12, 31)
CALENDARS = [
    build_snapshot(BUSINESS, START, END),
    build_snapshot(SERVICE_DESK, START, END),
    CalendarSnapshot(
        name="lunch",
        weekly={
            key: [WorkingPeriod.parse("09:00-12:00"), WorkingPeriod.parse("13:30-18:00")] for key in range(5)
        },
        valid_from=START,
        valid_to=END,
    ),
    CalendarSnapshot(
        name="berlin",
        timezone="Europe/Berlin",
        weekly={
            key: [WorkingPeriod.parse("01:30-03:30"), WorkingPeriod.parse("08:00-17:00")] for key in range(6)
        },
        valid_from=START,
        valid_to=END,
    ),
]

calendars = st.sampled_from(CALENDARS)
moments = st.integers(0, 365 * 24 * 60).map(lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m))
durations = st.integers(0, 200 * 60).map(lambda m: timedelta(minutes=m))
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(calendars, moments, durations, durations)
def test_adding_in_two_steps_is_adding_once(
    c: CalendarSnapshot, t: datetime, a: timedelta, b: timedelta
) -> None:
    assert cal.add_working_hours(c, cal.add_working_hours(c, t, a), b) == cal.add_working_hours(c, t, a + b)


@FAST
@given(calendars, moments, durations)
def test_working_time_to_the_deadline_is_the_limit(c: CalendarSnapshot, t: datetime, h: timedelta) -> None:
    assert cal.working_time_between(c, t, cal.add_working_hours(c, t, h)) == h


@FAST
@given(calendars, moments, durations, durations)
def test_deadlines_are_monotonic(c: CalendarSnapshot, t: datetime, a: timedelta, b: timedelta) -> None:
    assert cal.add_working_hours(c, t, min(a, b)) <= cal.add_working_hours(c, t, max(a, b))
    assert cal.add_working_hours(c, t, a) <= cal.add_working_hours(c, t + b, a)


@FAST
@given(calendars, moments, durations.filter(lambda h: h > timedelta(0)))
def test_deadlines_fall_in_working_time_or_at_a_period_end(
    c: CalendarSnapshot, t: datetime, h: timedelta
) -> None:
    due = cal.add_working_hours(c, t, h)
    if cal.is_working_time(c, due):
        return
    ends = {
        end
        for day in (cal.local_date(c, due) - timedelta(days=1), cal.local_date(c, due))
        for _, end in cal.periods_on(c, day)
    }
    assert due in ends


@FAST
@given(calendars, moments, durations, durations)
def test_working_time_adds_up_over_a_split(
    c: CalendarSnapshot, t: datetime, a: timedelta, b: timedelta
) -> None:
    middle, end = t + a, t + a + b
    total = cal.working_time_between(c, t, end)
    assert total == cal.working_time_between(c, t, middle) + cal.working_time_between(c, middle, end)
