"""Who works a case, under time skipping with the real store (DESIGN §9, issue 15): a case that
reaches a step waiting on an agent goes to the least-loaded online agent with its queue's skill; with
nobody online it waits in its queue, its clock running, until someone claims it; an agent who goes
offline hands their open cases back to the queue after a grace period, unless back by then. And a
day of an agent: claim from the queue, answer in time, one late answer, hand-over on going home."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.contracts import ReplyClockAnswered, ReplyClockInput
from domain.conversation import Party, Visibility
from domain.enums import Action, Step
from domain.models import CaseView
from domain.names import SIGNAL_REPLIED, handback_workflow_id
from domain.people import HandbackInput, HandbackOutcome, Presence
from store import audit, cases, messages, people
from store.models import MessageRow, PersonRow
from tests.support.cases import CaseDriver, kettle_request, open_case, record_history
from tests.test_reply_clock import advance_to
from workflows import search_attributes as sa
from workflows.handback import HandbackWorkflow
from workflows.reply_clock import ReplyClockWorkflow

GRACE = 900.0  # AFTERSALES_OFFLINE_HANDBACK_SECONDS' default


class Desk:
    """The people of one queue of this test's own, and who of them is at the desk."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.queue = f"q-{uuid.uuid4().hex[:10]}"
        self.tag = self.queue[2:]

    def agent(self, name: str, *, skilled: bool = True) -> str:
        person_id = f"P-{self.tag}-{name}"
        with self.sessions.begin() as session:
            skills = [self.queue] if skilled else ["another-queue"]
            people.create_person(session, name, "agent", skills, person_id)
        return person_id

    def online(self, person_id: str, *, idle: timedelta = timedelta(0)) -> None:
        """Sets `online`; with `idle`, their last request was that long ago (shown `away` after 5 min)."""
        with self.sessions.begin() as session:
            people.set_presence(session, person_id, Presence.ONLINE)
            session.execute(
                update(PersonRow)
                .where(PersonRow.person_id == person_id)
                .values(last_seen_at=datetime.now(UTC) - idle)
            )

    def offline(self, person_id: str) -> None:
        with self.sessions.begin() as session:
            people.set_presence(session, person_id, Presence.OFFLINE)

    def everyone_offline(self) -> None:
        """Nobody at any desk (other tests' people included: they share the store)."""
        with self.sessions.begin() as session:
            session.execute(update(PersonRow).values(presence=Presence.OFFLINE.value))

    def holds_an_open_case(self, person_id: str, now: datetime) -> None:
        inp = open_case(self.sessions, kettle_request(now), now)
        with self.sessions.begin() as session:
            row = cases.get_case(session, inp.case_id)
            assert row is not None
            row.assigned_to = person_id


@pytest.fixture
def desk(sessions: sessionmaker[Session]) -> Iterator[Desk]:
    made = Desk(sessions)
    made.everyone_offline()
    yield made
    made.everyone_offline()


async def case_in(ts_env: WorkflowEnvironment, desk: Desk, task_queue: str) -> CaseDriver:
    now = await ts_env.get_current_time()
    inp = open_case(desk.sessions, kettle_request(now), now).model_copy(update={"queue": desk.queue})
    return await CaseDriver(ts_env.client, inp, task_queue).start()


async def assigned_to_an_online_agent(ts_env: WorkflowEnvironment, desk: Desk, task_queue: str) -> CaseDriver:
    """A case that the desk's online agent got when it reached the agent's step."""
    case = await case_in(ts_env, desk, task_queue)
    await case.settled()
    await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})
    return case


async def went_offline(
    ts_env: WorkflowEnvironment, task_queue: str, person_id: str
) -> WorkflowHandle[Any, HandbackOutcome]:
    """What the API starts when a person sets `offline`: the hand-back, which waits out the grace."""
    return await ts_env.client.start_workflow(
        HandbackWorkflow.run,
        HandbackInput(person_id=person_id, grace_seconds=GRACE, why="offline"),
        id=handback_workflow_id(person_id),
        task_queue=task_queue,
    )


async def noted(case: CaseDriver) -> CaseView:
    """The case after a note: everything it received before (a hand-back's release) is taken by then."""
    return await case.act(Action.NOTES, {"text": "looked at it"})


def assignment_events(sessions: sessionmaker[Session], case_id: str) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        return [
            (e.kind, e.actor, audit.event_payload(session, e).get("assigned_to"))
            for e in audit.list_events(session, case_id)
            if e.kind in ("auto_assigned", "claimed", "assigned", "released")
        ]


async def test_the_least_loaded_online_agent_with_the_skill_gets_the_case_when_it_waits_on_an_agent(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], desk: Desk
) -> None:
    ana, bo = desk.agent("ana"), desk.agent("bo")
    away, unskilled = desk.agent("aa-away"), desk.agent("aa-elsewhere", skilled=False)
    for person in (ana, bo, unskilled):
        desk.online(person)
    desk.online(away, idle=timedelta(minutes=10))  # set online, but shown away
    desk.holds_an_open_case(bo, await ts_env.get_current_time())  # Bo already works one
    case = await case_in(ts_env, desk, worker.task_queue)
    await case.settled()  # the merchant verifies first: nobody is assigned for that

    view = await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})

    assert (view.step, view.assigned_to) == (Step.LIABILITY_AND_PROPOSAL, ana)
    assert (await case.handle.describe()).typed_search_attributes.get(sa.ASSIGNED_TO) == ana
    assert assignment_events(sessions, case.inp.case_id) == [("auto_assigned", "system", ana)]
    with sessions() as session:
        row = cases.get_case(session, case.inp.case_id)
        assert row is not None and row.assigned_to == ana
    await case.act(Action.WITHDRAWAL, {"reason": "sorted it out"})
    await case.handle.result()
    await record_history(case.handle, "auto_assigned_least_loaded")


async def test_with_nobody_online_the_case_waits_in_its_queue_with_its_clock_running_until_claimed(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], desk: Desk
) -> None:
    ana = desk.agent("ana")  # skilled, but offline
    case = await case_in(ts_env, desk, worker.task_queue)
    await case.settled()

    view = await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})

    assert (view.step, view.assigned_to) == (Step.LIABILITY_AND_PROPOSAL, None)
    assert Step.LIABILITY_AND_PROPOSAL in view.deadlines  # the agent's clock runs in the queue
    desk.online(ana)  # she comes in and takes it
    view = await case.act(Action.CLAIM, {"person_id": ana}, actor=f"agent:{ana}")
    assert view.assigned_to == ana
    assert assignment_events(sessions, case.inp.case_id) == [("claimed", f"agent:{ana}", ana)]
    await case.act(Action.WITHDRAWAL, {"reason": "sorted it out"})
    await case.handle.result()
    await record_history(case.handle, "nobody_online_then_claimed")


async def test_an_agent_who_stays_offline_past_the_grace_period_hands_their_open_cases_back(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], desk: Desk
) -> None:
    ana = desk.agent("ana")
    desk.online(ana)
    case = await assigned_to_an_online_agent(ts_env, desk, worker.task_queue)
    desk.offline(ana)

    handback = await went_offline(ts_env, worker.task_queue, ana)
    outcome = await handback.result()  # the grace period passes (time skipping)

    assert outcome == HandbackOutcome(person_id=ana, released=[case.inp.case_id])
    await record_history(handback, "handback_released_one_case")
    assert (await noted(case)).assigned_to is None  # back in its queue, at the same step
    assert assignment_events(sessions, case.inp.case_id) == [
        ("auto_assigned", "system", ana),
        ("released", "system:handback", None),
    ]
    with sessions() as session:
        released = [e for e in audit.list_events(session, case.inp.case_id) if e.kind == "released"]
        assert audit.event_payload(session, released[0])["reason"] == f"handed back: {ana} offline for 900 s"


async def test_an_agent_back_within_the_grace_period_keeps_their_cases(
    ts_env: WorkflowEnvironment, worker: Worker, desk: Desk
) -> None:
    ana = desk.agent("ana")
    desk.online(ana)
    case = await assigned_to_an_online_agent(ts_env, desk, worker.task_queue)
    desk.offline(ana)

    handback = await went_offline(ts_env, worker.task_queue, ana)
    desk.online(ana)  # back before the grace period ends
    outcome = await handback.result()

    assert outcome.released == [] and outcome.kept_because == f"{ana} is back (online)"
    assert (await noted(case)).assigned_to == ana


async def customer_writes(
    ts_env: WorkflowEnvironment, sessions: sessionmaker[Session], case: CaseDriver, task_queue: str
) -> WorkflowHandle[Any, Any]:
    """What the API does with a customer message: store it, start its first-response clock."""
    at = await ts_env.get_current_time()
    with sessions.begin() as session:
        message = messages.add_message(
            session, case.inp.case_id, "system:shop", Party.CUSTOMER, Visibility.CUSTOMER, "any news?", at=at
        )
        message_id = message.message_id
    clock = ReplyClockInput(
        case_id=case.inp.case_id, message_id=message_id, received_at=at, limit_seconds=900
    )
    return await ts_env.client.start_workflow(
        ReplyClockWorkflow.run, clock, id=f"reply-{message_id}", task_queue=task_queue
    )


async def agent_replies(
    ts_env: WorkflowEnvironment, sessions: sessionmaker[Session], case: CaseDriver
) -> None:
    """What the API does with the platform's message to the customer: store the reply, tell the clocks."""
    at = await ts_env.get_current_time()
    with sessions.begin() as session:
        waiting = messages.mark_replied(session, case.inp.case_id, at)
    for message_id in waiting:
        await ts_env.client.get_workflow_handle(f"reply-{message_id}").signal(SIGNAL_REPLIED, at)


async def test_a_day_of_an_agent_claim_from_the_queue_reply_in_time_one_breach_and_hand_over_going_offline(
    ts_env: WorkflowEnvironment, worker: Worker, sessions: sessionmaker[Session], desk: Desk
) -> None:
    ana = desk.agent("ana")
    await advance_to(ts_env, "09:30")  # nobody at the desk yet: the case waits in its queue
    case = await case_in(ts_env, desk, worker.task_queue)
    await case.settled()
    assert (await case.act(Action.MERCHANT_RESPONSE, {"accepts_claim": True})).assigned_to is None

    desk.online(ana)  # 09:30: Ana comes in and claims it from the queue
    assert (await case.act(Action.CLAIM, {"person_id": ana}, actor=f"agent:{ana}")).assigned_to == ana

    await advance_to(ts_env, "10:00")  # the customer asks; Ana answers at 10:06, within 15 minutes
    morning = await customer_writes(ts_env, sessions, case, worker.task_queue)
    await advance_to(ts_env, "10:06")
    await agent_replies(ts_env, sessions, case)
    assert ReplyClockAnswered.model_validate(await morning.result()).breached is False

    await advance_to(ts_env, "14:00")  # again; this time Ana answers at 14:20: one breach
    afternoon = await customer_writes(ts_env, sessions, case, worker.task_queue)
    await advance_to(ts_env, "14:20")
    await agent_replies(ts_env, sessions, case)
    late = ReplyClockAnswered.model_validate(await afternoon.result())
    assert late.breached and late.first_response_seconds == 20 * 60

    await advance_to(ts_env, "18:00")  # Ana goes home: her case goes back to the queue after the grace
    desk.offline(ana)
    handback = await went_offline(ts_env, worker.task_queue, ana)
    assert (await handback.result()).released == [case.inp.case_id]
    assert (await noted(case)).assigned_to is None
    assert [(kind, actor) for kind, actor, _ in assignment_events(sessions, case.inp.case_id)] == [
        ("claimed", f"agent:{ana}"),
        ("released", "system:handback"),
    ]
    with sessions() as session:
        breached = [
            m.frt_breached_at is not None
            for m in session.scalars(
                select(MessageRow).where(MessageRow.case_id == case.inp.case_id).order_by(MessageRow.at)
            )
        ]
    assert breached == [False, True]
