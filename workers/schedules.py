"""The report schedules (DESIGN §10), created or brought up to date when a worker starts, so they
exist wherever a worker runs and are visible in the Temporal UI (Schedules).

- `report-daily` fires at 08:30 in the platform's time zone every day: on a working day its run
  builds the previous working days' reports, due by 10:00 (the retries have an hour and a half);
- `report-weekly` fires at 16:00 every day: its run builds the week's report on its Friday, or on
  the eve of a Friday holiday.

On a day the business calendar does not work, a run builds nothing; a report missed (the worker was
down) is built by the next run. Runs never overlap (a firing while one runs is skipped: the next
run finds what is still due).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from domain.calendar import DEFAULT_TIMEZONE
from domain.names import REPORT_SCHEDULES, REPORTS_WORKFLOW_TYPE

log = logging.getLogger(__name__)
FIRES_AT = {"daily": (8, 30), "weekly": (16, 0)}


def report_schedule(kind: str, task_queue: str, timezone: str = DEFAULT_TIMEZONE) -> Schedule:
    hour, minute = FIRES_AT[kind]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            REPORTS_WORKFLOW_TYPE,
            kind,
            id=f"{REPORT_SCHEDULES[kind]}-run",
            task_queue=task_queue,
            execution_timeout=timedelta(hours=22),
            static_summary=f"the {kind} report (seed 003)",
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)])],
            time_zone_name=timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_report_schedules(client: Client, task_queue: str, timezone: str = DEFAULT_TIMEZONE) -> None:
    """Create the two schedules, or update them to this code's version (idempotent)."""
    for kind, schedule_id in REPORT_SCHEDULES.items():
        schedule = report_schedule(kind, task_queue, timezone)
        try:
            await client.create_schedule(schedule_id, schedule)
            log.info("created schedule %s", schedule_id)
        except ScheduleAlreadyRunningError:

            def updated(_: ScheduleUpdateInput, schedule: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(schedule_id).update(updated)
            log.info("updated schedule %s", schedule_id)
