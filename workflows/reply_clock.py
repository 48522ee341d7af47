"""The first-response clock of one customer message (DESIGN §9; seeds 000 §1.1 and 003).

Started by the API when a customer message arrives (`reply-<message id>`); told by the signal
`replied` when the platform answers the customer. It counts on the service-desk calendar (a snapshot
loaded by a local activity, never read here): the reply is due after the policy's limit of desk time
(15 minutes by default), a night message must also be answered by 12:00 of the day it counts to. A
limit that passes is recorded once and alerts the assignee and the supervisors; the answer records
the first response time (FRT) on the message. No message text ever enters this workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.conversation import DESK_CALENDAR, first_response, reply_facts
    from domain.names import REPLY_CLOCK_TYPE, SIGNAL_REPLIED
    from workflows import calls, shared


@workflow.defn(name=REPLY_CLOCK_TYPE)
class ReplyClockWorkflow:
    def __init__(self) -> None:
        self.replied_at: datetime | None = None

    @workflow.signal(name=SIGNAL_REPLIED)
    def replied(self, at: datetime) -> None:
        """The platform answered the customer at `at` (the first answer counts)."""
        if self.replied_at is None:
            self.replied_at = at

    @workflow.run
    async def run(self, inp: act.ReplyClockInput) -> act.ReplyClockAnswered | None:
        received = inp.received_at
        bundle = await calls.load_calendars(
            act.CalendarRequest(names=[DESK_CALENDAR], start=(received - timedelta(days=1)).date(), days=60)
        )
        desk = shared.snapshot(bundle.snapshots[DESK_CALENDAR])
        facts = reply_facts(desk, received, timedelta(seconds=inp.limit_seconds))
        await calls.reply_clock(
            act.REPLY_CLOCK_STARTED,
            act.ReplyClockFacts(
                message_id=inp.message_id,
                reply_due_at=facts.due_at,
                counts_on=facts.counts_on,
                night=facts.night,
                night_due_at=facts.night_due_at,
            ),
        )
        limits: list[tuple[datetime, str]] = [(facts.due_at, "breach")]
        if facts.night_due_at is not None:
            limits.append((facts.night_due_at, "night"))
        limits.sort()
        give_up = received + timedelta(days=inp.give_up_after_days)
        while self.replied_at is None:
            upcoming = limits[0][0] if limits else give_up
            try:
                await workflow.wait_condition(
                    lambda: self.replied_at is not None,
                    timeout=max(upcoming - workflow.now(), timedelta(0)),
                    timeout_summary=limits[0][1] if limits else "give up",
                )
            except TimeoutError:
                if not limits:
                    return None  # never answered (the case went quiet or closed): breaches stay recorded
                due_at, kind = limits.pop(0)
                stored = await calls.reply_clock(
                    act.REPLY_CLOCK_DUE,
                    act.ReplyClockDue(
                        case_id=inp.case_id, message_id=inp.message_id, kind=kind, due_at=due_at
                    ),
                    result_type=act.ReplyClockStored,
                )
                if stored is not None and stored.replied_at is not None:
                    self.replied(stored.replied_at)  # the store has the answer: its signal was lost or late
        replied_at = max(self.replied_at, received)
        answered = act.ReplyClockAnswered(
            message_id=inp.message_id,
            replied_at=replied_at,
            first_response_seconds=round(first_response(desk, received, replied_at).total_seconds()),
            breached=replied_at > facts.due_at,
            night_violated=facts.night_due_at is not None and replied_at > facts.night_due_at,
        )
        await calls.reply_clock(act.REPLY_CLOCK_ANSWERED, answered)
        return answered
