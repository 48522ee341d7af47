"""The report schedules' activities: which daily or weekly reports are due on the business calendar
(missed ones included), and building one (stored once, sent to the supervisors)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.calendars import overrides_for
from activities.definition import defn
from domain.calendar_source import BUSINESS, build_snapshot
from domain.report_days import CATCH_UP_DAYS, daily_due, weekly_due
from store import scheduled_reports
from store.report_facts import platform_zone


class ReportActivities:
    def __init__(self, sessions: sessionmaker[Session], wake_relay: Callable[[], None] | None = None) -> None:
        self._sessions = sessions
        self._wake_relay = wake_relay

    @defn(name=c.REPORTS_DUE)
    def reports_due(self, request: c.ReportsDueRequest) -> c.ReportsDue:
        with self._sessions() as session:
            today = request.at.astimezone(platform_zone(session)).date()
            snapshot = build_snapshot(
                BUSINESS,
                today - timedelta(days=CATCH_UP_DAYS + 14),
                today + timedelta(days=7),
                overrides_for(session, BUSINESS, None),
            )
            done = scheduled_reports.built(session, request.kind, today)
        if request.kind == scheduled_reports.DAILY:
            days: list[date] = daily_due(snapshot, today, {date.fromisoformat(k) for k in done})
            return c.ReportsDue(keys=[d.isoformat() for d in days])
        return c.ReportsDue(keys=weekly_due(snapshot, today, done))

    @defn(name=c.BUILD_REPORT)
    def build_report(self, request: c.BuildReport) -> bool:
        with self._sessions.begin() as session:
            made = scheduled_reports.build(session, request.kind, request.key)
        if made and self._wake_relay is not None:
            self._wake_relay()
        return made
