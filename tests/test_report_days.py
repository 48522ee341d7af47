"""When the daily and weekly reports are due, on the business calendar (seed 003): around the National
Day holiday of 2026 (the `holidays` data: 1-7 October off, 10 October a make-up working day)."""

from __future__ import annotations

from datetime import date

from domain.calendar_source import BUSINESS, build_snapshot
from domain.report_days import daily_due, weekly_due, weekly_report_day

CAL = build_snapshot(BUSINESS, date(2026, 8, 1), date(2026, 12, 31))


def test_the_daily_report_of_a_working_day_is_built_the_next_working_day() -> None:
    assert daily_due(CAL, date(2026, 9, 29), built={date(2026, 9, 27)})[-1:] == [date(2026, 9, 28)]
    assert daily_due(CAL, date(2026, 10, 3), built=set()) == []  # a holiday: nothing is built
    # After the holiday the report of 30 September (the last working day) is built on 8 October.
    done_before = {d for d in daily_due(CAL, date(2026, 9, 30), built=set())}
    assert daily_due(CAL, date(2026, 10, 8), built=done_before) == [date(2026, 9, 30)]


def test_a_missed_daily_report_is_caught_up_not_skipped() -> None:
    built = set(daily_due(CAL, date(2026, 11, 16), built=set())) - {date(2026, 11, 12), date(2026, 11, 13)}
    assert daily_due(CAL, date(2026, 11, 17), built=built | {date(2026, 11, 16)}) == [
        date(2026, 11, 12),
        date(2026, 11, 13),
    ]


def test_the_weekly_report_is_built_on_friday_or_on_the_eve_of_a_friday_holiday() -> None:
    assert weekly_report_day(CAL, "2026-W47") == date(2026, 11, 20)  # an ordinary Friday
    assert weekly_report_day(CAL, "2026-W40") == date(2026, 9, 30)  # 1-2 October are holidays
    assert weekly_report_day(CAL, "2026-W41") == date(2026, 10, 9)  # back at work by Friday
    assert weekly_due(CAL, date(2026, 9, 30), built=set())[-1] == "2026-W40"
    assert "2026-W40" not in weekly_due(CAL, date(2026, 9, 29), built=set())
