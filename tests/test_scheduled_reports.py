"""The daily and weekly reports (seed 003): built by their schedules' runs on the business calendar,
stored once, sent to the supervisors, missed ones caught up; readable over the API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain import calendar as cal
from domain.calendar_source import BUSINESS, build_snapshot
from domain.names import REPORT_SCHEDULES
from store import scheduled_reports
from store.models import OutboxRow, ScheduledReportRow
from tests.support.cases import record_history
from tests.test_api_roles import headers
from workers.schedules import ensure_report_schedules
from workflows.reports import ReportsWorkflow

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def next_working_morning(env: WorkflowEnvironment) -> date:
    """Skip to 08:30 of the next working day after today (whatever day the tests run)."""
    now = (await env.get_current_time()).astimezone(SHANGHAI)
    calendar = build_snapshot(BUSINESS, now.date(), now.date() + timedelta(days=30))
    day = now.date() + timedelta(days=1)
    while not cal.is_working_day(calendar, day):
        day += timedelta(days=1)
    await env.sleep(datetime.combine(day, time(8, 30), tzinfo=SHANGHAI) - now)
    return day


async def run(env: WorkflowEnvironment, worker: Worker, name: str) -> list[str]:
    return await env.client.execute_workflow(
        ReportsWorkflow.run, "daily", id=f"report-daily-{name}", task_queue=worker.task_queue
    )


def built_daily(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(ScheduledReportRow.key).where(ScheduledReportRow.kind == "daily")))


async def test_a_daily_run_builds_the_previous_working_days_once_and_catches_up_a_missed_one(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    today = await next_working_morning(ts_env)
    calendar = build_snapshot(BUSINESS, today - timedelta(days=40), today)
    previous = max(
        d for d in (today - timedelta(days=n) for n in range(1, 15)) if cal.is_working_day(calendar, d)
    )
    # Time stands still while the runs wait on their activities (the test server would otherwise
    # skip ahead to an activity's timeout, and the next run would see another day).
    with ts_env.auto_time_skipping_disabled():
        first = await run(ts_env, worker, "t1")
        assert previous.isoformat() in first and today.isoformat() not in first
        assert all(cal.is_working_day(calendar, date.fromisoformat(k)) for k in first)  # holidays have none
        await record_history(ts_env.client.get_workflow_handle("report-daily-t1"), "reports_daily_built")
        assert await run(ts_env, worker, "t2") == []  # built once
        missed = first[len(first) // 2]
        with sessions.begin() as session:  # as if that day's run had never happened
            session.execute(
                delete(ScheduledReportRow).where(
                    ScheduledReportRow.kind == "daily", ScheduledReportRow.key == missed
                )
            )
        assert await run(ts_env, worker, "t3") == [missed] and missed in built_daily(sessions)
    with sessions() as session:
        sent = session.scalars(
            select(OutboxRow).where(OutboxRow.idempotency_key == f"report-daily-{previous.isoformat()}")
        ).one()
        assert (sent.case_id, sent.recipient_role, sent.template) == (None, "supervisor", "daily_report")


def test_a_report_is_built_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        made = scheduled_reports.build(session, "weekly", "2026-W40")
    with sessions.begin() as session:
        again = scheduled_reports.build(session, "weekly", "2026-W40")
        row = scheduled_reports.get(session, "weekly", "2026-W40")
        assert row is not None and (row.first_day, row.last_day) == (date(2026, 9, 28), date(2026, 10, 4))
        assert set(row.body) >= {"kpis", "by_merchant", "by_queue", "by_agent"}
    assert (made, again) == (True, False)


async def test_the_schedules_exist_once_visible_and_fire_in_the_platform_time_zone(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = "report-schedules-test"
    await ensure_report_schedules(dev_env.client, queue)
    await ensure_report_schedules(dev_env.client, queue)  # a second worker start changes nothing
    for kind, schedule_id in REPORT_SCHEDULES.items():
        described = await dev_env.client.get_schedule_handle(schedule_id).describe()
        spec = described.schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        hours = [r.start for c in spec.calendars for r in c.hour]
        assert hours == ([8] if kind == "daily" else [16])
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "Reports"
        assert len(action.args) == 1  # the report's kind (a payload, encrypted like every other)
        await dev_env.client.get_schedule_handle(schedule_id).delete()


async def test_reports_are_read_over_the_api_by_supervisors(
    api_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        scheduled_reports.build(session, "daily", "2026-11-30")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        found = await client.get("/v1/reports/daily/2026-11-30", headers=headers(keys["supervisor"]))
        assert found.status_code == 200 and found.json()["from"] == "2026-11-30"
        assert (
            await client.get("/v1/reports/daily/2026-11-29", headers=headers(keys["supervisor"]))
        ).status_code == 404
        assert (
            await client.get("/v1/reports/daily/2026-11-30", headers=headers(keys["merchant"]))
        ).status_code == 403
        assert (
            await client.get("/v1/reports/weekly/2026-W99", headers=headers(keys["supervisor"]))
        ).status_code == 422
        assert (
            await client.get("/v1/reports/daily/yesterday", headers=headers(keys["supervisor"]))
        ).status_code == 422
