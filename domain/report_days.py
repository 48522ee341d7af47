"""Which daily and weekly reports are due (seed 003; DESIGN §10), on the business calendar. Pure
rules, no I/O: the calendar comes as a snapshot.

- The daily report of a working day is built on the next working day, due by 10:00.
- The weekly report of an ISO week is built on its Friday, or on the last working day before it when
  that Friday is a holiday (the eve of the holiday).
- A report that was not built when due (the worker was down) is built at the next run: missed days
  and weeks are caught up, within a horizon, never skipped.
"""

from __future__ import annotations

from datetime import date, timedelta

from domain import calendar as cal
from domain.calendar import CalendarSnapshot

CATCH_UP_DAYS = 31  # how far back a run looks for reports that were never built


def working_days(snapshot: CalendarSnapshot, first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if cal.is_working_day(snapshot, day):
            days.append(day)
        day += timedelta(days=1)
    return days


def daily_due(snapshot: CalendarSnapshot, today: date, built: set[date]) -> list[date]:
    """The working days whose daily report is due by today and not built: each working day before
    today, when today (or an earlier day since) is a working day after it. Oldest first."""
    if not cal.is_working_day(snapshot, today):
        return []  # the next working day builds them
    return [
        d
        for d in working_days(snapshot, today - timedelta(days=CATCH_UP_DAYS), today - timedelta(days=1))
        if d not in built
    ]


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_days(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week `YYYY-Www`."""
    year, number = week.split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    return monday, monday + timedelta(days=6)


def weekly_report_day(snapshot: CalendarSnapshot, week: str) -> date | None:
    """The day the week's report is built: its Friday, or the last working day before it when that
    Friday is not a working day; None when the week has no working day up to Friday."""
    monday, _ = week_days(week)
    days = working_days(snapshot, monday, monday + timedelta(days=4))
    return days[-1] if days else None


def weekly_due(snapshot: CalendarSnapshot, today: date, built: set[str]) -> list[str]:
    """The ISO weeks whose report is due by today (its report day is today or passed) and not built."""
    due = []
    for back in range(CATCH_UP_DAYS // 7 + 1, -1, -1):
        week = iso_week(today - timedelta(weeks=back))
        day = weekly_report_day(snapshot, week)
        if day is not None and day <= today and week not in built and week not in due:
            due.append(week)
    return due
