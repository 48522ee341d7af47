"""Properties of the working-hour arithmetic over several calendars and the whole of 2026.

Starts are whole minutes anywhere in 2026 (working or not), near the two Berlin DST changes, and on
and next to period boundaries, given in assorted time zones; limits are 0 to 200 h in whole minutes.
Results are compared, and starts shifted, as UTC instants: Python compares datetimes that share a
tzinfo by wall time (02:30 CEST == 02:30 CET), and `aware + timedelta` adds wall time and drops
`fold` (02:00 CET + 0 s is 02:00 CEST, an hour earlier).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import calendar as cal
from domain.calendar import CalendarSnapshot, WorkingPeriod
from domain.calendar_source import BUSINESS, SERVICE_DESK, build_snapshot

START, END = date(2025, 12, 1), date(2027, 12, 31)  # covers 2026 plus 200 working hours
P = WorkingPeriod.of
CALENDARS = [
    build_snapshot(BUSINESS, START, END),
    build_snapshot(SERVICE_DESK, START, END),
    CalendarSnapshot(
        name="lunch",
        weekly={day: [P("09:00", "12:00"), P("13:30", "18:00")] for day in range(5)},
        valid_from=START,
        valid_to=END,
    ),
    # Sunday boundaries inside the spring gap and the autumn repeat (both DST changes are on Sundays),
    # a Saturday night shift that spans them, and a period ending at midnight.
    CalendarSnapshot(
        name="berlin",
        timezone="Europe/Berlin",
        weekly={
            **{day: [P("08:00", "12:00"), P("13:00", "17:00")] for day in range(5)},
            5: [P("01:30", "03:30"), P("22:00", "24:00")],
            6: [P("00:00", "02:30"), P("02:45", "03:15"), P("09:00", "10:00")],
        },
        valid_from=START,
        valid_to=END,
    ),
]
ZONES = [
    UTC,
    cal.zone("Asia/Shanghai"),
    cal.zone("Europe/Berlin"),
    timezone(timedelta(hours=-3, minutes=-30)),
]
DST_CHANGES = [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = timedelta(0)
TINY = timedelta(microseconds=1)

calendars = st.sampled_from(CALENDARS)
durations = st.integers(0, 200 * 60).map(lambda m: timedelta(minutes=m))
positive = st.integers(1, 200 * 60).map(lambda m: timedelta(minutes=m))
anywhere = st.integers(0, 365 * 24 * 60 - 1).map(lambda m: YEAR_START + timedelta(minutes=m))
near_dst = st.tuples(st.sampled_from(DST_CHANGES), st.integers(-3 * 24 * 60, 3 * 24 * 60)).map(
    lambda p: p[0] + timedelta(minutes=p[1])
)


BOUNDARIES = {
    c.name: sorted(
        {
            edge
            for n in range(365)
            for span in cal.periods_on(c, date(2026, 1, 1) + timedelta(days=n))
            for edge in span
        }
    )
    for c in CALENDARS
}


@st.composite
def calendar_and_moment(draw: st.DrawFn) -> tuple[CalendarSnapshot, datetime]:
    """A calendar and a start: anywhere, near a DST change, or on / a minute off a period boundary."""
    c = draw(calendars)
    kind = draw(st.sampled_from(["anywhere", "near_dst", "boundary"]))
    if kind == "boundary":
        t = draw(st.sampled_from(BOUNDARIES[c.name])) + timedelta(minutes=draw(st.integers(-1, 1)))
    else:
        t = draw(anywhere if kind == "anywhere" else near_dst)
    return c, t.astimezone(draw(st.sampled_from(ZONES)))


cases = calendar_and_moment()
FAST = settings(max_examples=200, deadline=None)


def utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def add(c: CalendarSnapshot, t: datetime, h: timedelta) -> datetime:
    return utc(cal.add_working_hours(c, t, h))


@FAST
@given(cases, durations, durations)
def test_adding_in_two_steps_is_adding_once(
    case: tuple[CalendarSnapshot, datetime], a: timedelta, b: timedelta
) -> None:
    # Holds without conditions: a budget used up exactly at a period's end stops there, and adding
    # b > 0 from that end skips to the next period exactly as the remaining b of a + b would;
    # adding 0 from a non-working t returns t, and adding b from t is then adding 0 + b.
    c, t = case
    assert add(c, add(c, t, a), b) == add(c, t, a + b)


@FAST
@given(cases, durations)
def test_the_working_time_up_to_the_deadline_is_the_limit(
    case: tuple[CalendarSnapshot, datetime], h: timedelta
) -> None:
    c, t = case
    assert cal.working_time_between(c, t, add(c, t, h)) == h


@FAST
@given(cases, positive)
def test_the_deadline_is_the_first_moment_the_limit_is_reached(
    case: tuple[CalendarSnapshot, datetime], h: timedelta
) -> None:
    c, t = case
    assert cal.working_time_between(c, t, add(c, t, h) - TINY) < h


@FAST
@given(cases, durations, durations)
def test_deadlines_grow_with_the_limit_and_with_the_start(
    case: tuple[CalendarSnapshot, datetime], h: timedelta, shift: timedelta
) -> None:
    c, t = case
    assert add(c, t, h) <= add(c, t, h + shift)
    assert add(c, t, h) <= add(c, utc(t) + shift, h)


@FAST
@given(cases, positive)
def test_a_deadline_is_in_working_time_or_exactly_at_a_period_end(
    case: tuple[CalendarSnapshot, datetime], h: timedelta
) -> None:
    c, t = case
    due = add(c, t, h)
    if cal.is_working_time(c, due):
        return
    day = cal.local_date(c, due)
    ends = {utc(end) for d in (day - timedelta(days=1), day) for _, end in cal.periods_on(c, d)}
    assert due in ends


@FAST
@given(cases, durations, durations)
def test_working_time_adds_up_over_a_split_point(
    case: tuple[CalendarSnapshot, datetime], a: timedelta, b: timedelta
) -> None:
    c, t = case
    middle, end = utc(t) + a, utc(t) + a + b
    assert cal.working_time_between(c, t, end) == cal.working_time_between(
        c, t, middle
    ) + cal.working_time_between(c, middle, end)
    assert cal.working_time_between(c, t, end) <= a + b
    assert cal.working_time_between(c, end, t) == ZERO or a + b == ZERO


@FAST
@given(cases, positive)
def test_the_next_working_moment_is_where_counting_starts(
    case: tuple[CalendarSnapshot, datetime], h: timedelta
) -> None:
    c, t = case
    nxt = utc(cal.next_working_moment(c, t))
    assert nxt >= utc(t) and cal.is_working_time(c, nxt)
    assert (nxt == utc(t)) == cal.is_working_time(c, t)
    assert cal.working_time_between(c, t, nxt) == ZERO
    assert utc(cal.next_working_moment(c, nxt)) == nxt
    assert add(c, t, h) == add(c, nxt, h)


@FAST
@given(cases)
def test_is_working_time_agrees_with_working_time_between(case: tuple[CalendarSnapshot, datetime]) -> None:
    c, t = case
    assert cal.is_working_time(c, t) == (cal.working_time_between(c, t, utc(t) + TINY) == TINY)


@FAST
@given(cases)
def test_a_message_counts_from_a_working_moment_not_before_it_arrived(
    case: tuple[CalendarSnapshot, datetime],
) -> None:
    c, t = case
    counted = utc(cal.counting_start(c, t))
    assert counted >= utc(t) and cal.is_working_time(c, counted)
    if cal.to_local(c, t).hour >= 18:
        assert cal.local_date(c, counted) > cal.local_date(c, t)
    assert utc(cal.counting_start(c, t, cutoff=None)) == utc(cal.next_working_moment(c, t))


@FAST
@given(cases, durations)
def test_the_zone_of_the_start_does_not_matter_and_results_are_in_the_calendar_zone(
    case: tuple[CalendarSnapshot, datetime], h: timedelta
) -> None:
    c, t = case
    due = cal.add_working_hours(c, t, h)
    assert utc(due) == add(c, utc(t), h)
    assert due.tzinfo is c.tz
