"""Calendar and SLA clocks inside running cases: holidays, make-up days, calendar changes, freezes."""

from __future__ import annotations

import shutil
import stat
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.provider_client import ProviderClient
from core.settings import Settings
from domain import calendar as cal
from domain.enums import Step
from domain.models import CaseView
from store import calendars, freezes
from tests.support.cases import CaseDriver, kettle_request, open_case, record_history, terminate_started
from tests.support.temporal import binary, register_search_attributes
from workers.build import build_worker

SH = cal.zone("Asia/Shanghai")
FAKETIME = shutil.which("faketime")
# What the `faketime` command preloads (Debian and Ubuntu; `$LIB` is expanded by the dynamic loader).
FAKETIME_LIBRARY = "/usr/$LIB/faketime/libfaketime.so.1"


@pytest.fixture
async def national_day_env(
    converter: DataConverter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server whose clock starts on 30 Sep 2026 at 16:00 in Shanghai.

    The test server's clock only moves forward from the machine's time, so it runs under libfaketime
    (Debian package `faketime`; .ci/run installs it).
    """
    if FAKETIME is None:
        pytest.skip("needs the `faketime` command (apt-get install faketime) to start the server in the past")
    wrapper = tmp_path_factory.mktemp("faketime") / "temporal-test-server"
    # The library the `faketime` command preloads, set here so that the server is this script's own
    # process (exec): under the `faketime` command it would be a grandchild, and the environment's
    # shutdown, which stops its child, would leave it running after the tests.
    wrapper.write_text(
        "#!/bin/sh\n"
        f"LD_PRELOAD='{FAKETIME_LIBRARY}' FAKETIME='@2026-09-30 08:00:00' "
        f'exec {binary("temporal-test-server")} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(wrapper), data_converter=converter
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
async def national_day_worker(
    national_day_env: WorkflowEnvironment,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    task_queue: str,
) -> AsyncIterator[Worker]:
    async with build_worker(national_day_env.client, settings, sessions, provider, task_queue) as worker:
        yield worker
        await terminate_started()


def thawed(view: CaseView) -> bool:
    return view.sla[0].frozen_since is None


async def test_merchant_limit_from_national_day_eve_is_due_on_the_make_up_saturday(
    national_day_env: WorkflowEnvironment, national_day_worker: Worker, sessions: sessionmaker[Session]
) -> None:
    env = national_day_env
    await env.sleep(datetime(2026, 9, 30, 17, 0, tzinfo=SH) - await env.get_current_time())
    now = await env.get_current_time()
    inp = open_case(sessions, kettle_request(now), now)
    case = await CaseDriver(env.client, inp, national_day_worker.task_queue).start()
    view = await case.wait_for_step(Step.MERCHANT_VERIFICATION)
    clock = view.sla[0]
    started = clock.started_at.astimezone(SH)
    assert (started.date(), started.hour) == (date(2026, 9, 30), 17)
    due = view.deadlines["merchant_verification"].astimezone(SH)
    # 1 h on 30 Sep, 1-7 Oct closed, 9 h on 8 and 9 Oct, 5 h on make-up Saturday 10 Oct
    assert due.replace(second=0, microsecond=0) == datetime(2026, 10, 10, 14, 0, tzinfo=SH)
    assert clock.limit == "24 working h" and clock.calendar == "business"

    await env.sleep(due - await env.get_current_time() - timedelta(minutes=1))
    assert (await case.view()).step == Step.MERCHANT_VERIFICATION, "not a minute before the limit"
    await env.sleep(timedelta(minutes=2))
    view = await case.wait_for_step(Step.LIABILITY_AND_PROPOSAL)
    breach = next(e for e in view.timeline if e.kind == "sla_breached")
    assert breach.at.astimezone(SH).replace(second=0, microsecond=0) == datetime(
        2026, 10, 10, 14, 0, tzinfo=SH
    )
    assert "merchant_timeout_auto_accept" in view.reason_codes


async def test_a_new_holiday_moves_the_deadline_of_a_running_case(
    ts_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    settings: Settings,
    provider: ProviderClient,
    task_queue: str,
) -> None:
    async with build_worker(ts_env.client, settings, sessions, provider, task_queue):
        now = await ts_env.get_current_time()
        req = kettle_request(now)
        data = req.model_dump(mode="json")
        data["order"]["merchant_id"] = "M-HOLIDAY"
        inp = open_case(sessions, type(req).model_validate(data), now)
        case = await CaseDriver(ts_env.client, inp, task_queue).start()
        before = (await case.wait_for_step(Step.MERCHANT_VERIFICATION)).deadlines["merchant_verification"]
        closed_day = before.astimezone(SH).date()
        with sessions.begin() as session:
            calendars.add_calendar_override(
                session, "business", "M-HOLIDAY", closed_day, "closed", "stocktaking"
            )
        await case.handle.signal("calendar_changed")
        view = await case.view_when(lambda v: v.deadlines["merchant_verification"] != before, "moved")
        after = view.deadlines["merchant_verification"]
        assert after.astimezone(SH).date() > closed_day
        assert any(e.kind == "deadline_moved" for e in view.timeline)
        await terminate_started()


async def test_a_freeze_pauses_the_clock_and_a_thaw_keeps_the_time_used(
    ts_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    settings: Settings,
    provider: ProviderClient,
    task_queue: str,
) -> None:
    async with build_worker(ts_env.client, settings, sessions, provider, task_queue):
        now = await ts_env.get_current_time()
        inp = open_case(sessions, kettle_request(now), now)
        case = await CaseDriver(ts_env.client, inp, task_queue).start()
        await case.wait_for_step(Step.MERCHANT_VERIFICATION)
        await case.handle.signal("freeze", "Spring Festival freeze")
        await ts_env.sleep(timedelta(days=30))  # frozen: no breach however long
        view = await case.view()
        assert view.step == Step.MERCHANT_VERIFICATION and not view.sla_breached
        assert view.sla[0].frozen_since is not None
        await case.handle.signal("thaw")
        view = await case.view_when(thawed, "thawed")
        clock = view.sla[0]
        assert len(clock.paused) == 1 and clock.due_at is not None
        assert clock.due_at - clock.paused[0].end >= timedelta(hours=24) - clock.used
        await terminate_started()


async def test_a_case_opened_during_a_region_freeze_waits_frozen_and_its_limit_counts_from_the_thaw(
    ts_env: WorkflowEnvironment,
    sessions: sessionmaker[Session],
    settings: Settings,
    provider: ProviderClient,
    task_queue: str,
) -> None:
    region = f"CN-FRZ-{task_queue[-6:]}"
    with sessions.begin() as session:
        freezes.start_freeze(session, None, region, "Spring Festival freeze", "supervisor:test")
    try:
        async with build_worker(ts_env.client, settings, sessions, provider, task_queue):
            now = await ts_env.get_current_time()
            req = kettle_request(now)
            inp = open_case(
                sessions,
                req.model_copy(update={"order": req.order.model_copy(update={"region": region})}),
                now,
            )
            case = await CaseDriver(ts_env.client, inp, task_queue).start()
            view = await case.wait_for_step(Step.MERCHANT_VERIFICATION)
            assert view.sla[0].frozen_since is not None
            assert any(e.kind == "clock_frozen" for e in view.timeline)
            await ts_env.sleep(timedelta(days=20))  # frozen: the merchant's silence is not a breach
            assert (await case.view()).step == Step.MERCHANT_VERIFICATION
            with sessions.begin() as session:
                freezes.end_freeze(session, None, region)
            await case.handle.signal("thaw")
            view = await case.view_when(thawed, "thawed")
            clock = view.sla[0]
            assert clock.used == timedelta(0) and clock.due_at is not None
            assert clock.due_at > clock.paused[0].end + timedelta(hours=24)  # 24 working h after the thaw
            await record_history(case.handle, "opened_during_region_freeze")
            await terminate_started()
    finally:
        with sessions.begin() as session:
            freezes.end_freeze(session, None, region)
