"""Working-hour arithmetic on explicit cases: China's 2026 holidays and make-up days, a lunch break,
the service desk, the 18:00 cutoff, merchant overrides, DST in Berlin, and what is refused.

Datetimes of one DST zone are compared as UTC instants or ISO strings: Python compares two datetimes
that share a tzinfo by wall time, so 02:30 CEST and 02:30 CET would compare equal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest
from pydantic import ValidationError

from domain import calendar as cal
from domain.calendar import CalendarSnapshot, WorkingPeriod
from domain.calendar_source import (
    BUSINESS,
    DEFAULT_CALENDARS,
    SERVICE_DESK,
    CalendarOverrides,
    WorkingHours,
    build_snapshot,
    snapshot_version,
)

SH = cal.zone("Asia/Shanghai")
BERLIN = cal.zone("Europe/Berlin")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
LUNCH_HOURS = [WorkingPeriod.of("09:00", "12:00"), WorkingPeriod.of("13:30", "18:00")]


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def iso(t: datetime) -> str:
    return t.isoformat()


def simple(
    weekly: dict[int, list[WorkingPeriod]], timezone: str = "Asia/Shanghai", **kw: object
) -> CalendarSnapshot:
    return CalendarSnapshot.model_validate(
        {
            "name": "test",
            "timezone": timezone,
            "weekly": weekly,
            "valid_from": date(2026, 1, 1),
            "valid_to": date(2026, 12, 31),
            **kw,
        }
    )


@pytest.fixture(scope="module")
def business() -> CalendarSnapshot:
    return build_snapshot(BUSINESS, date(2025, 12, 1), date(2027, 3, 1))


@pytest.fixture(scope="module")
def desk() -> CalendarSnapshot:
    return build_snapshot(SERVICE_DESK, date(2026, 1, 1), date(2026, 12, 31))


@pytest.fixture(scope="module")
def lunch() -> CalendarSnapshot:
    return simple({day: LUNCH_HOURS for day in range(5)})


# --- China 2026 on `business` ------------------------------------------------------------------


def test_24_working_hours_from_national_day_eve_fall_on_the_make_up_saturday(
    business: CalendarSnapshot,
) -> None:
    # 30 Sep 17-18 (1 h), 1-7 Oct off, 8 Oct (9 h), 9 Oct (9 h), Sat 10 Oct is a make-up working day (5 h)
    assert cal.add_working_hours(business, at(2026, 9, 30, 17), 24 * H) == at(2026, 10, 10, 14)
    assert not any(cal.is_working_day(business, date(2026, 10, d)) for d in range(1, 8))
    assert cal.is_working_day(business, date(2026, 10, 10))
    assert cal.working_time_between(business, at(2026, 9, 30, 17), at(2026, 10, 10, 14)) == 24 * H


def test_the_library_data_for_spring_festival_2026_is_what_the_snapshot_uses() -> None:
    china = holidays.China(years=2026)
    february = {d for d in china if d.month == 2}
    # The library lists the weekdays off (15, 21 and 22 Feb are a weekend anyway) and the two Saturdays.
    assert february == {date(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)}
    assert {d for d in china.weekend_workdays if d.year == 2026 and d.month == 2} == {
        date(2026, 2, 14),
        date(2026, 2, 28),
    }


def test_spring_festival_2026_is_skipped_and_its_make_up_saturdays_count(business: CalendarSnapshot) -> None:
    assert cal.is_working_day(business, date(2026, 2, 14))  # Saturday, make-up day
    assert cal.is_working_day(business, date(2026, 2, 28))  # Saturday, make-up day
    assert not any(cal.is_working_day(business, date(2026, 2, d)) for d in range(15, 24))
    # Fri 13 Feb 17:00 + 10 h: 1 h Fri, 9 h on make-up Saturday 14 Feb → 14 Feb 18:00 (the period end)
    assert cal.add_working_hours(business, at(2026, 2, 13, 17), 10 * H) == at(2026, 2, 14, 18)
    # one more hour jumps the whole festival to Tue 24 Feb
    assert cal.add_working_hours(business, at(2026, 2, 13, 17), 11 * H) == at(2026, 2, 24, 10)
    # Fri 27 Feb 17:00 + 2 h: the make-up Saturday 28 Feb counts
    assert cal.add_working_hours(business, at(2026, 2, 27, 17), 2 * H) == at(2026, 2, 28, 10)


def test_a_sunday_make_up_day_counts_too(business: CalendarSnapshot) -> None:
    assert cal.periods_on(business, date(2026, 9, 20)) == [(at(2026, 9, 20, 9), at(2026, 9, 20, 18))]
    assert cal.periods_on(business, date(2026, 9, 27)) == []  # an ordinary Sunday


def test_a_deadline_that_uses_up_the_day_is_due_at_its_end_not_the_next_morning(
    business: CalendarSnapshot,
) -> None:
    assert cal.add_working_hours(business, at(2026, 11, 23, 9), 9 * H) == at(2026, 11, 23, 18)
    assert cal.add_working_hours(business, at(2026, 11, 23, 9), 9 * H + MIN) == at(2026, 11, 24, 9, 1)


def test_zero_hours_is_the_start_itself_even_outside_working_time(business: CalendarSnapshot) -> None:
    saturday_night = at(2026, 11, 21, 23, 30)
    assert cal.add_working_hours(business, saturday_night, timedelta(0)) == saturday_night
    assert cal.working_time_between(business, saturday_night, saturday_night - H) == timedelta(0)


def test_outside_the_horizon_only_the_weekly_rule_applies() -> None:
    only_2026 = build_snapshot(BUSINESS, date(2026, 1, 1), date(2026, 12, 31))
    # 1 Jan 2027 is New Year's Day, but the snapshot does not cover it: a Friday, so working.
    assert cal.is_working_day(only_2026, date(2027, 1, 1))
    assert not cal.is_working_day(only_2026, date(2026, 1, 1))


# --- lunch break and service desk ---------------------------------------------------------------


def test_a_lunch_break_is_not_working_time(lunch: CalendarSnapshot) -> None:
    assert cal.add_working_hours(lunch, at(2026, 11, 23, 11), 2 * H) == at(2026, 11, 23, 14, 30)
    assert cal.add_working_hours(lunch, at(2026, 11, 23, 11), H) == at(2026, 11, 23, 12)  # the morning's end
    assert cal.is_working_time(lunch, at(2026, 11, 23, 11, 59))
    assert not cal.is_working_time(lunch, at(2026, 11, 23, 12))
    assert not cal.is_working_time(lunch, at(2026, 11, 23, 12, 30))
    assert cal.is_working_time(lunch, at(2026, 11, 23, 13, 30))
    assert cal.next_working_moment(lunch, at(2026, 11, 23, 12, 30)) == at(2026, 11, 23, 13, 30)
    assert cal.working_time_between(lunch, at(2026, 11, 23), at(2026, 11, 24)) == 7.5 * H
    assert cal.counting_start(lunch, at(2026, 11, 23, 12, 30)) == at(2026, 11, 23, 13, 30)


def test_the_service_desk_works_09_to_23_every_day_holidays_included(desk: CalendarSnapshot) -> None:
    assert cal.add_working_hours(desk, at(2026, 10, 1, 22), 2 * H) == at(2026, 10, 2, 10)
    assert cal.working_time_between(desk, at(2026, 10, 1), at(2026, 10, 2)) == 14 * H
    assert cal.is_working_time(desk, at(2026, 10, 3, 22, 59))
    assert not cal.is_working_time(desk, at(2026, 10, 3, 23))
    assert cal.next_working_moment(desk, at(2026, 10, 3, 23, 30)) == at(2026, 10, 4, 9)


# --- counting start (seed 003) ------------------------------------------------------------------


def test_a_message_after_18_00_counts_from_the_next_working_day(business: CalendarSnapshot) -> None:
    assert cal.counting_start(business, at(2026, 11, 19, 18, 30)) == at(2026, 11, 20, 9)
    assert cal.counting_start(business, at(2026, 11, 20, 18, 30)) == at(2026, 11, 23, 9)  # Fri → Mon
    assert cal.counting_start(business, at(2026, 9, 30, 18, 30)) == at(2026, 10, 8, 9)  # National Day


def test_a_message_before_the_cutoff_counts_from_itself_or_the_next_working_moment(
    business: CalendarSnapshot,
) -> None:
    assert cal.counting_start(business, at(2026, 11, 20, 11)) == at(2026, 11, 20, 11)
    assert cal.counting_start(business, at(2026, 11, 23, 7)) == at(2026, 11, 23, 9)  # early Monday
    assert cal.counting_start(business, at(2026, 11, 21, 10)) == at(2026, 11, 23, 9)  # Saturday


def test_the_service_desk_still_open_after_the_cutoff_counts_from_the_next_morning(
    desk: CalendarSnapshot,
) -> None:
    assert cal.counting_start(desk, at(2026, 11, 20, 18, 30)) == at(2026, 11, 21, 9)
    assert cal.counting_start(desk, at(2026, 11, 20, 18, 30), cutoff=None) == at(2026, 11, 20, 18, 30)
    assert cal.counting_start(desk, at(2026, 11, 20, 17, 30), cutoff=time(17)) == at(2026, 11, 21, 9)


# --- merchant overrides and snapshots -----------------------------------------------------------


def test_merchant_overrides_close_and_open_days() -> None:
    overrides = CalendarOverrides(
        extra_closed_dates=[date(2026, 11, 23)], extra_working_dates=[date(2026, 11, 22)]
    )
    merchant = build_snapshot(BUSINESS, date(2026, 11, 1), date(2026, 12, 31), overrides)
    assert cal.is_working_day(merchant, date(2026, 11, 22))  # a Sunday the merchant works: office hours
    assert cal.periods_on(merchant, date(2026, 11, 22)) == [(at(2026, 11, 22, 9), at(2026, 11, 22, 18))]
    assert not cal.is_working_day(merchant, date(2026, 11, 23))  # a Monday it closes
    # Sat 21 Nov 12:00: Sun 22 Nov 9 h, Mon 23 Nov closed, Tue 24 Nov 1 h
    assert cal.add_working_hours(merchant, at(2026, 11, 21, 12), 10 * H) == at(2026, 11, 24, 10)
    assert merchant.version != build_snapshot(BUSINESS, date(2026, 11, 1), date(2026, 12, 31)).version


def test_a_merchant_can_open_on_a_public_holiday_and_replace_the_weekly_hours() -> None:
    overrides = CalendarOverrides(
        extra_working_dates=[date(2026, 10, 2)],
        weekly={day: [WorkingPeriod.of("10:00", "20:00")] for day in range(6)},  # Mon-Sat 10-20
    )
    merchant = build_snapshot(BUSINESS, date(2026, 9, 1), date(2026, 12, 31), overrides)
    assert cal.periods_on(merchant, date(2026, 10, 2)) == [(at(2026, 10, 2, 10), at(2026, 10, 2, 20))]
    assert not cal.is_working_day(merchant, date(2026, 10, 3))  # still National Day
    # A make-up Sunday takes the merchant's weekday hours, not the default office hours.
    assert cal.periods_on(merchant, date(2026, 9, 20)) == [(at(2026, 9, 20, 10), at(2026, 9, 20, 20))]


def test_a_date_both_closed_and_opened_by_overrides_is_open() -> None:
    day = date(2026, 11, 23)
    overrides = CalendarOverrides(extra_closed_dates=[day], extra_working_dates=[day])
    assert cal.is_working_day(build_snapshot(BUSINESS, date(2026, 11, 1), date(2026, 11, 30), overrides), day)


def test_an_override_time_zone_moves_the_hours() -> None:
    utc_desk = build_snapshot(
        SERVICE_DESK, date(2026, 11, 1), date(2026, 11, 30), CalendarOverrides(timezone="UTC")
    )
    due = cal.add_working_hours(utc_desk, datetime(2026, 11, 20, 22, tzinfo=UTC), 2 * H)
    assert iso(due) == "2026-11-21T10:00:00+00:00"


def test_snapshots_survive_json_and_carry_a_content_hash(business: CalendarSnapshot) -> None:
    again = CalendarSnapshot.model_validate_json(business.model_dump_json())
    assert again == business
    assert len(business.version) == 12 and business.version == snapshot_version(business)
    assert build_snapshot(BUSINESS, date(2025, 12, 1), date(2027, 3, 1)).version == business.version
    start = at(2026, 9, 30, 17)
    assert cal.add_working_hours(again, start, 24 * H) == cal.add_working_hours(business, start, 24 * H)


def test_a_copy_with_other_dates_does_not_reuse_the_original_lookups(business: CalendarSnapshot) -> None:
    assert cal.is_working_day(business, date(2026, 11, 23))  # warms the lookups
    closed = business.model_copy(update={"closed_dates": [*business.closed_dates, date(2026, 11, 23)]})
    assert not cal.is_working_day(closed, date(2026, 11, 23))


def test_unknown_names_and_countries_are_refused() -> None:
    with pytest.raises(ValueError, match="known: business, service_desk"):
        build_snapshot("night_shift", date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(ValueError, match="no calendar for country"):
        build_snapshot(BUSINESS, date(2026, 1, 1), date(2026, 12, 31), country="XX")
    assert set(DEFAULT_CALENDARS) == {BUSINESS, SERVICE_DESK}


# --- DST: working periods are wall-clock time ---------------------------------------------------


def berlin(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN)


def test_a_whole_day_period_is_23_or_25_real_hours_on_the_dst_sundays() -> None:
    always = simple({day: [WorkingPeriod.of("00:00", "24:00")] for day in range(7)}, "Europe/Berlin")
    assert cal.working_time_between(always, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * H
    assert cal.working_time_between(always, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * H
    assert iso(cal.add_working_hours(always, berlin(2026, 3, 29), 24 * H)) == "2026-03-30T01:00:00+02:00"
    # Three real hours after midnight on 25 Oct is 02:00 for the second time (CET).
    assert iso(cal.add_working_hours(always, berlin(2026, 10, 25), 3 * H)) == "2026-10-25T02:00:00+01:00"


def test_a_night_shift_across_the_change_is_shorter_in_spring_and_longer_in_autumn() -> None:
    night = simple({6: [WorkingPeriod.of("00:00", "06:00")]}, "Europe/Berlin")  # Sundays
    assert cal.working_time_between(night, berlin(2026, 3, 22), berlin(2026, 3, 23)) == 6 * H
    assert cal.working_time_between(night, berlin(2026, 3, 29), berlin(2026, 3, 30)) == 5 * H
    assert cal.working_time_between(night, berlin(2026, 10, 25), berlin(2026, 10, 26)) == 7 * H


def test_office_hours_are_nine_real_hours_on_either_side_of_the_change() -> None:
    office = simple({day: [WorkingPeriod.of("09:00", "18:00")] for day in range(5)}, "Europe/Berlin")
    # Fri 27 Mar 17:00 → Mon 30 Mar 10:00 (CEST now): 1 h + 1 h
    assert cal.working_time_between(office, berlin(2026, 3, 27, 17), berlin(2026, 3, 30, 10)) == 2 * H
    assert iso(cal.add_working_hours(office, berlin(2026, 3, 27, 17), 2 * H)) == "2026-03-30T10:00:00+02:00"
    assert iso(cal.add_working_hours(office, berlin(2026, 10, 23, 17), 2 * H)) == "2026-10-26T10:00:00+01:00"


def test_a_period_boundary_in_the_spring_gap_is_the_moment_the_clock_jumps() -> None:
    early = simple({6: [WorkingPeriod.of("02:30", "10:00")]}, "Europe/Berlin")
    (start, end), *_ = cal.periods_on(early, date(2026, 3, 29))
    assert (iso(start), end - start) == ("2026-03-29T03:00:00+02:00", 7 * H)
    inside_gap = simple({6: [WorkingPeriod.of("02:15", "02:45")]}, "Europe/Berlin")
    assert cal.periods_on(inside_gap, date(2026, 3, 29)) == []  # that wall time never happens
    (start, end), *_ = cal.periods_on(inside_gap, date(2026, 10, 25))  # and happens twice in autumn
    assert (iso(start), iso(end)) == ("2026-10-25T02:15:00+02:00", "2026-10-25T02:45:00+02:00")


def test_calendar_hours_are_real_hours_across_dst() -> None:
    assert iso(cal.add_calendar_hours(berlin(2026, 3, 28, 12), 24 * H)) == "2026-03-29T13:00:00+02:00"
    assert iso(cal.add_calendar_hours(at(2026, 11, 20, 18), 72 * H)) == "2026-11-23T18:00:00+08:00"


def test_results_are_in_the_calendar_zone(business: CalendarSnapshot) -> None:
    due = cal.add_working_hours(business, datetime(2026, 11, 23, 1, 0, tzinfo=UTC), H)
    assert iso(due) == "2026-11-23T10:00:00+08:00"
    assert (
        iso(cal.next_working_moment(business, datetime(2026, 11, 21, tzinfo=UTC)))
        == "2026-11-23T09:00:00+08:00"
    )


# --- what is refused ----------------------------------------------------------------------------


def test_naive_datetimes_are_refused(business: CalendarSnapshot) -> None:
    naive = datetime(2026, 11, 23, 9)
    calls = [
        lambda: cal.add_working_hours(business, naive, H),
        lambda: cal.working_time_between(business, naive, at(2026, 11, 24)),
        lambda: cal.working_time_between(business, at(2026, 11, 22), naive),
        lambda: cal.is_working_time(business, naive),
        lambda: cal.next_working_moment(business, naive),
        lambda: cal.counting_start(business, naive),
        lambda: cal.add_calendar_hours(naive, H),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="no time zone"):
            call()


def test_negative_hours_are_refused(business: CalendarSnapshot) -> None:
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_hours(business, at(2026, 11, 23, 9), -H)


def test_a_calendar_without_working_time_gives_up_instead_of_looping() -> None:
    never = simple({})
    with pytest.raises(ValueError, match="no working time"):
        cal.add_working_hours(never, at(2026, 11, 23, 9), H)
    with pytest.raises(ValueError, match="no working time"):
        cal.next_working_moment(never, at(2026, 11, 23, 9))


def test_invalid_periods_and_snapshots_are_refused() -> None:
    assert WorkingPeriod.of("00:00", "24:00") == WorkingPeriod(start=0, end=1440)
    assert str(WorkingPeriod.parse("09:00-18:00")) == "09:00-18:00"
    for start, end in [
        ("18:00", "09:00"),
        ("09:00", "09:00"),
        ("09:60", "10:00"),
        ("24:30", "25:00"),
        ("9", "10"),
    ]:
        with pytest.raises(ValueError):
            WorkingPeriod.of(start, end)
    with pytest.raises(ValidationError, match="overlap"):
        simple({0: [WorkingPeriod.of("09:00", "12:00"), WorkingPeriod.of("11:00", "18:00")]})
    with pytest.raises(ValidationError, match="weekdays"):
        simple({7: LUNCH_HOURS})
    with pytest.raises(ValidationError, match="unknown time zone"):
        simple({}, "Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="both closed and working"):
        simple({}, closed_dates=[date(2026, 5, 1)], extra_working_dates=[date(2026, 5, 1)])
    with pytest.raises(ValidationError, match="valid_from"):
        simple({}, valid_from=date(2027, 1, 1))


def test_periods_are_kept_in_order_whatever_order_they_are_given_in() -> None:
    snap = simple({0: list(reversed(LUNCH_HOURS))})
    assert snap.weekly[0] == LUNCH_HOURS
    assert [s.time() for s, _ in cal.periods_on(snap, date(2026, 11, 23))] == [time(9), time(13, 30)]


# --- stored working hours (per merchant or platform) -------------------------------------------


def test_a_merchant_open_mornings_and_saturdays_counts_only_those_hours() -> None:
    hours = WorkingHours(
        weekly={"sat": ["10:00-16:00"], "mon": ["09:00-12:00", "13:30-18:00"]}, timezone="Asia/Shanghai"
    )
    assert list(hours.weekly) == ["mon", "sat"]  # normalised to weekday order
    snapshot = build_snapshot(BUSINESS, date(2026, 11, 1), date(2026, 12, 31), hours.overrides())
    friday_evening = datetime(2026, 11, 27, 17, 0, tzinfo=SH)
    # Sat 28 Nov 10:00-16:00 (6 h), then Mon 30 Nov 09:00-12:00 (3 h) and 13:30-14:30.
    due = cal.add_working_hours(snapshot, friday_evening, timedelta(hours=10))
    assert due == datetime(2026, 11, 30, 14, 30, tzinfo=SH)


@pytest.mark.parametrize(
    "weekly",
    [{"mon": ["09:00-12:00", "11:00-13:00"]}, {"monday": ["09:00-12:00"]}, {"mon": ["12:00-09:00"]}, {}],
)
def test_working_hours_that_cannot_be_counted_are_refused(weekly: dict[str, list[str]]) -> None:
    with pytest.raises(ValidationError):
        WorkingHours(weekly=weekly)
