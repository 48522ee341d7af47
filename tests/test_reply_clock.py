"""The first-response clock of a customer message, under time skipping (DESIGN §9, seeds 000 §1.1
and 003): 15 minutes of service-desk time (09:00-23:00 every day), breaches recorded once with alerts,
and night messages due by 12:00 of the day they count to."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contracts import ReplyClockAnswered, ReplyClockInput
from domain.conversation import Party, Visibility
from domain.names import SIGNAL_REPLIED
from store import messages
from store.models import MessageRow, OutboxRow
from tests.support.cases import kettle_request, open_case, record_history
from workflows.reply_clock import ReplyClockWorkflow

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIFTEEN_MINUTES = 15 * 60


async def advance_to(env: WorkflowEnvironment, hhmm: str, days_later: int = 0) -> datetime:
    """Skip to the next hh:mm in Shanghai (at least a minute ahead), `days_later` days on."""
    now = (await env.get_current_time()).astimezone(SHANGHAI)
    hour, minute = map(int, hhmm.split(":"))
    target = datetime.combine(now.date(), time(hour, minute), tzinfo=SHANGHAI)
    while target <= now + timedelta(minutes=1):
        target += timedelta(days=1)
    target += timedelta(days=days_later)
    await env.sleep(target - now)
    return target


async def customer_writes(
    env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], at: datetime
) -> tuple[str, WorkflowHandle[Any, Any]]:
    """A customer message at `at` (the env's now) and its clock, as the API starts them."""
    inp = open_case(sessions, kettle_request(at), at)
    with sessions.begin() as session:
        message = messages.add_message(
            session, inp.case_id, "system:shop", Party.CUSTOMER, Visibility.CUSTOMER, "still leaking", at=at
        )
        message_id = message.message_id
    clock = ReplyClockInput(
        case_id=inp.case_id, message_id=message_id, received_at=at, limit_seconds=FIFTEEN_MINUTES
    )
    handle = await env.client.start_workflow(
        ReplyClockWorkflow.run, clock, id=f"reply-{message_id}", task_queue=worker.task_queue
    )
    return message_id, handle


def stored(sessions: sessionmaker[Session], message_id: str) -> MessageRow:
    with sessions() as session:
        row = session.get(MessageRow, message_id)
        assert row is not None
        session.expunge(row)
        return row


def alerts(sessions: sessionmaker[Session], message_id: str) -> list[str]:
    with sessions() as session:
        keys = session.scalars(
            select(OutboxRow.idempotency_key).where(OutboxRow.idempotency_key.like(f"{message_id}-%"))
        )
        return sorted(keys)


async def test_a_message_at_22_59_answered_at_09_10_is_within_the_limit_because_the_desk_night_does_not_count(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    received = await advance_to(ts_env, "22:59")
    message_id, clock = await customer_writes(ts_env, worker, sessions, received)
    replied = await advance_to(ts_env, "09:10")
    await clock.signal(SIGNAL_REPLIED, replied)
    answered = ReplyClockAnswered.model_validate(await clock.result())

    assert answered.first_response_seconds == 11 * 60 and not answered.breached
    row = stored(sessions, message_id)
    assert row.reply_due_at == received + timedelta(hours=10, minutes=15)  # 09:14 the next morning
    assert row.first_response_seconds == 11 * 60 and row.frt_breached_at is None
    assert row.night and row.counts_on == replied.date()  # after 18:00: the next day's figures
    assert row.night_violation_at is None and alerts(sessions, message_id) == []


async def test_a_message_at_14_00_not_answered_until_14_20_is_a_breach_of_5_minutes_recorded_once(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    received = await advance_to(ts_env, "14:00")
    message_id, clock = await customer_writes(ts_env, worker, sessions, received)
    replied = await advance_to(ts_env, "14:20")  # the limit passed at 14:15
    await clock.signal(SIGNAL_REPLIED, replied)
    answered = ReplyClockAnswered.model_validate(await clock.result())

    assert answered.breached and answered.first_response_seconds - FIFTEEN_MINUTES == 5 * 60
    await record_history(clock, "reply_clock_breached_then_answered")
    row = stored(sessions, message_id)
    assert row.frt_breached_at == received + timedelta(minutes=15) and not row.night
    assert row.counts_on == received.date()
    # The assignee and the supervisors were told, once each.
    assert alerts(sessions, message_id) == [f"{message_id}-breach-agent", f"{message_id}-breach-supervisor"]


async def test_a_night_message_unanswered_at_12_01_the_next_working_day_is_a_violation(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    received = await advance_to(ts_env, "22:30")
    message_id, clock = await customer_writes(ts_env, worker, sessions, received)
    await advance_to(ts_env, "11:59")
    assert stored(sessions, message_id).night_violation_at is None, "not a minute before 12:00"
    await advance_to(ts_env, "12:01")
    row = stored(sessions, message_id)
    noon = datetime.combine(received.date() + timedelta(days=1), time(12, 0), tzinfo=SHANGHAI)
    assert row.night_violation_at == noon and row.frt_breached_at is not None
    assert f"{message_id}-night-supervisor" in alerts(sessions, message_id)
    await clock.terminate()


async def test_a_reply_whose_signal_was_lost_is_found_in_the_store_when_the_limit_passes(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session]
) -> None:
    received = await advance_to(ts_env, "10:00")
    message_id, clock = await customer_writes(ts_env, worker, sessions, received)
    with sessions.begin() as session:  # the API stored the answer at 10:05, its signal never came
        messages.mark_replied(session, stored(sessions, message_id).case_id, received + timedelta(minutes=5))
    await advance_to(ts_env, "10:16")
    answered = ReplyClockAnswered.model_validate(await clock.result())
    assert answered.first_response_seconds == 5 * 60 and not answered.breached
    assert stored(sessions, message_id).frt_breached_at is None and alerts(sessions, message_id) == []
