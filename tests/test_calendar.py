"""Working-hour arithmetic on China's 2026 calendar: National Day, Spring Festival, make-up days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from domain import calendar as cal
from domain.calendar import CalendarSnapshot, WorkingPeriod
from domain.calendar_source import BUSINESS, SERVICE_DESK, CalendarOverrides, build_snapshot

SH = cal.zone("Asia/Shanghai")
H = timedelta(hours=1)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture(scope="module")
def business() -> CalendarSnapshot:
    return build_snapshot(BUSINESS, date(2025, 12, 1), date(2027, 3, 1))


def test_24_working_hours_from_national_day_eve_fall_on_the_make_up_saturday(
    business: CalendarSnapshot,
) -> None:
    # 30 Sep 17-18 (1 h), 1-7 Oct off, 8 Oct (9 h), 9 Oct (9 h), Sat 10 Oct is a make-up working day (5 h)
    assert cal.add_working_hours(business, at(2026, 9, 30, 17), 24 * H) == at(2026, 10, 10, 14)


def test_spring_festival_2026_skips_the_holidays_and_counts_the_make_up_saturdays(
    business: CalendarSnapshot,
) -> None:
    assert cal.is_working_day(business, date(2026, 2, 14))  # Saturday, make-up day
    assert cal.is_working_day(business, date(2026, 2, 28))  # Saturday, make-up day
    assert not any(cal.is_working_day(business, date(2026, 2, d)) for d in range(15, 24))
    # Fri 13 Feb 17:00 + 10 h: 1 h Fri, 9 h on make-up Saturday 14 Feb → due 14 Feb 18:00 (period end)
    assert cal.add_working_hours(business, at(2026, 2, 13, 17), 10 * H) == at(2026, 2, 14, 18)
    # one more hour jumps the whole festival to Tue 24 Feb
    assert cal.add_working_hours(business, at(2026, 2, 13, 17), 11 * H) == at(2026, 2, 24, 10)


def test_a_message_after_18_00_counts_from_the_next_working_day(business: CalendarSnapshot) -> None:
    assert cal.counting_start(business, at(2026, 11, 20, 18, 30)) == at(2026, 11, 23, 9)  # Fri evening → Mon
    assert cal.counting_start(business, at(2026, 11, 20, 11)) == at(2026, 11, 20, 11)
    assert cal.counting_start(business, at(2026, 11, 21, 10)) == at(2026, 11, 23, 9)  # Saturday


def test_the_service_desk_works_09_to_23_every_day() -> None:
    desk = build_snapshot(SERVICE_DESK, date(2026, 9, 1), date(2026, 12, 31))
    assert cal.add_working_hours(desk, at(2026, 10, 1, 22), 2 * H) == at(2026, 10, 2, 10)
    assert cal.working_time_between(desk, at(2026, 10, 1), at(2026, 10, 2)) == 14 * H


def test_a_lunch_break_is_not_working_time() -> None:
    periods = [WorkingPeriod.parse("09:00-12:00"), WorkingPeriod.parse("13:30-18:00")]
    lunch = CalendarSnapshot(
        name="lunch",
        weekly={day: periods for day in range(5)},
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    assert cal.add_working_hours(lunch, at(2026, 11, 23, 11), 2 * H) == at(2026, 11, 23, 14, 30)
    assert not cal.is_working_time(lunch, at(2026, 11, 23, 12, 30))
    assert cal.next_working_moment(lunch, at(2026, 11, 23, 12, 30)) == at(2026, 11, 23, 13, 30)


def test_merchant_overrides_close_and_open_days() -> None:
    overrides = CalendarOverrides(
        extra_closed_dates=[date(2026, 11, 23)], extra_working_dates=[date(2026, 11, 22)]
    )
    merchant = build_snapshot(BUSINESS, date(2026, 11, 1), date(2026, 12, 31), overrides)
    assert cal.is_working_day(merchant, date(2026, 11, 22))  # a Sunday the merchant works
    assert not cal.is_working_day(merchant, date(2026, 11, 23))  # a Monday it closes
    assert cal.add_working_hours(merchant, at(2026, 11, 21, 12), 10 * H) == at(2026, 11, 24, 10)


def test_working_periods_are_wall_clock_time_across_dst() -> None:
    berlin = CalendarSnapshot(
        name="berlin",
        timezone="Europe/Berlin",
        weekly={day: [WorkingPeriod.parse("00:00-24:00")] for day in range(7)},
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    zone = cal.zone("Europe/Berlin")
    # 29 Mar 2026 has 23 hours in Berlin, 25 Oct 2026 has 25
    assert (
        cal.working_time_between(
            berlin, datetime(2026, 3, 29, tzinfo=zone), datetime(2026, 3, 30, tzinfo=zone)
        )
        == 23 * H
    )
    assert (
        cal.working_time_between(
            berlin, datetime(2026, 10, 25, tzinfo=zone), datetime(2026, 10, 26, tzinfo=zone)
        )
        == 25 * H
    )
    assert cal.add_working_hours(berlin, datetime(2026, 3, 29, tzinfo=zone), 24 * H) == datetime(
        2026, 3, 30, 1, tzinfo=zone
    )


def test_naive_datetimes_are_refused(business: CalendarSnapshot) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        cal.add_working_hours(business, datetime(2026, 11, 23, 9), H)


def test_results_are_in_the_calendar_zone(business: CalendarSnapshot) -> None:
    due = cal.add_working_hours(business, datetime(2026, 11, 23, 1, 0, tzinfo=cal.zone("UTC")), H)
    assert due.utcoffset() == 8 * H and due.time() == time(10, 0)
