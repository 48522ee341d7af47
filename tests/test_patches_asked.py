# ruff: noqa: F811  # `fakes` is the fixture imported from test_workflow_branches
"""A case asks a patch only where its answer changes what the case does (workflows/patches.py).

Every patch asked writes a marker and a `TemporalChangeVersion` upsert into the history and keeps
memory in the SDK core for the run's life. The review's two changes since version 1 matter for few
claims: an excluded category claimed for a change of mind, and a window whose last day falls on a
plain weekend. Histories recorded when every case asked both still replay (tests/test_replay.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from api.ids import new_case_id
from domain import calendar as cal
from domain.calendar_source import build_snapshot
from domain.enums import Step
from domain.models import CaseInput
from domain.policy import CasePolicy
from tests.support.cases import CaseDriver, kettle_request
from tests.test_policy_workflow import start
from tests.test_workflow_branches import Fakes, fakes  # noqa: F401  # the fixture

SH = cal.zone("Asia/Shanghai")


def patches_asked(history: WorkflowHistory) -> list[str]:
    """The ids of the patch markers in a history, in order."""
    ids = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            ids.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return ids


def change_version_upserts(history: WorkflowHistory) -> int:
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and "TemporalChangeVersion"
        in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    )


async def asked_at(case: CaseDriver, step: Step) -> WorkflowHistory:
    await case.wait_for_step(step)
    await case.quiet_view()
    return await case.handle.fetch_history()


def monday_after_a_plain_weekend(after: datetime) -> datetime:
    """10:00 in Shanghai on the first Monday after `after` whose weekend is a plain one: Friday and
    Monday are working days and no day of the weekend is a public holiday."""
    snapshot = build_snapshot("business", after.date(), after.date() + timedelta(days=120))
    day = after.astimezone(SH).date() + timedelta(days=1)
    while True:
        if day.weekday() == 0:
            friday, saturday, sunday = (day - timedelta(days=n) for n in (3, 2, 1))
            working = all(cal.periods_on(snapshot, d) for d in (friday, day))
            plain = not any(cal.periods_on(snapshot, d) for d in (saturday, sunday)) and not (
                {saturday, sunday} & set(snapshot.closed_dates)
            )
            if working and plain:
                return datetime.combine(day, time(10), SH)
        day += timedelta(days=1)
        assert day < after.date() + timedelta(days=110), "no plain weekend in 16 weeks"


async def test_a_claim_neither_change_affects_asks_no_patch(fakes: Fakes) -> None:
    """Within its window, not an excluded category: the review is the same either way."""
    case = await start(fakes)
    history = await asked_at(case, Step.MERCHANT_VERIFICATION)
    assert patches_asked(history) == []
    assert change_version_upserts(history) == 0


async def test_fresh_food_for_a_change_of_mind_asks_the_exclusion_only(fakes: Fakes) -> None:
    case = await start(fakes, category="fresh_food", reason="changed_mind", evidence=[])
    history = await asked_at(case, Step.AWAITING_APPROVAL)
    assert patches_asked(history)[:1] == ["excluded-categories"]
    assert "holiday-window" not in patches_asked(history)  # out of scope either way


async def test_a_window_ending_on_a_plain_weekend_asks_the_holiday_rule_and_is_not_extended(
    fakes: Fakes,
) -> None:
    """Delivered on a Sunday, the 7-day window ends on the next Sunday, a plain weekend day: the
    claim on Monday is late (before the change, any day off moved the last day to Monday)."""
    monday = monday_after_a_plain_weekend(await fakes.env.get_current_time())
    await fakes.env.sleep(monday - await fakes.env.get_current_time())
    delivered: date = (monday - timedelta(days=8)).date()
    now = await fakes.env.get_current_time()
    order = kettle_request(now).model_dump(mode="json")["order"]
    order["delivered_at"] = datetime.combine(delivered, time(15), SH).isoformat()
    order["paid_at"] = datetime.combine(delivered - timedelta(days=2), time(9), SH).isoformat()
    request = kettle_request(now, reason="changed_mind", order=order)
    inp = CaseInput(case_id=new_case_id(now), request=request, received_at=now, policy=CasePolicy())
    case = await CaseDriver(fakes.env.client, inp, fakes.task_queue).start()
    history = await asked_at(case, Step.AWAITING_APPROVAL)
    view = await case.view()
    assert patches_asked(history) == ["holiday-window"]
    assert f"ended on {(delivered + timedelta(days=7)).isoformat()}" in (view.options[0].note or "")
