"""Waiting at a step: for the action it expects, while its SLA ladder runs.

`wait_for(step, Proposal)` returns `Answered[Proposal]` or `TimedOut` (the breach action the limit
took); `answer(step, Approval)` waits at a step whose limit only escalates, so it ends only when
someone acts. Meanwhile any time: notes are recorded, the assignee changes (claim, assign, release),
a withdrawal closes the case (`Closing`) and
an escalation goes to the dispute team (`Escalated`); an action the step does not take is refused.
Before it sleeps, the wait writes what changed (one store write) and sleeps until the next rung.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.enums import Action, CloseReason, Step
    from domain.models import Appeal, Contract
    from domain.money import Money
    from domain.sla import SlaClock
    from domain.steps import spec_of
    from workflows import calls
    from workflows.inbox import Inbound, Inbox
    from workflows.ladder import Due, Ladder
    from workflows.outcomes import Answered, Closing, Escalated, TimedOut
    from workflows.recorder import Recorder
    from workflows.rules import ASSIGNMENT, assignment_problem
    from workflows.state import CaseState

P = TypeVar("P", bound=Contract)
T = TypeVar("T")


class Waits:
    def __init__(
        self,
        s: CaseState,
        inbox: Inbox,
        ladder: Ladder,
        rec: Recorder,
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self.s, self.inbox, self.ladder, self.rec, self.flush = s, inbox, ladder, rec, flush

    async def wait_for(self, step: Step, kind: type[P]) -> Answered[P] | TimedOut:
        outcome = await self.wait(step)
        if isinstance(outcome, Answered) and not isinstance(outcome.payload, kind):
            raise TypeError(f"{step} expected {kind.__name__}, got {type(outcome.payload).__name__}")
        return outcome  # type: ignore[return-value]  # checked just above

    async def answer(self, step: Step, kind: type[P]) -> Answered[P]:
        """Wait at a step whose limit only escalates: it ends when someone acts (or the case unwinds)."""
        while True:
            outcome = await self.wait_for(step, kind)
            if isinstance(outcome, Answered):
                return outcome
            # Not reached with a valid policy (such a step only escalates): wait once more, anew.
            await self.ladder.start_clock(step)
            self.inbox.expecting = set(spec_of(step).waits_for)

    async def wait(self, step: Step) -> Answered[Contract] | TimedOut:
        """Wait for an action the step expects; the ladder's rungs fire meanwhile."""
        clock = self.ladder.clocks[step]
        await self.flush()
        while True:
            due = await self._sleep(clock, lambda: bool(self.inbox))
            if due is not None:
                action = self.ladder.fire(due[0], due[1])
                if action is not None:
                    self.inbox.expecting = set()
                    return TimedOut(action)
                await self.flush()
                continue
            answered = self._take(self.inbox.pop())
            if answered is not None:
                return answered
            await self.flush()

    async def _sleep(self, clock: SlaClock, ready: Callable[[], bool]) -> Due | None:
        """Until `ready()` (None) or the clock's next rung comes first (that rung, not fired yet).
        A calendar change or a freeze met on the way is applied, and written, before sleeping on."""
        while True:
            if self.ladder.stale(clock):
                await self.ladder.apply_changes(clock)
                await self.flush()
            due = self.ladder.next_rung(clock)
            try:
                await workflow.wait_condition(
                    lambda: ready() or self.ladder.stale(clock) or self.s.unsaved_scan,
                    timeout=max(due[2] - workflow.now(), timedelta(0)) if due else None,
                    timeout_summary=self._summary(due),
                )
            except TimeoutError:
                assert due is not None
                return due
            if ready():
                return None
            if self.s.unsaved_scan:  # a carrier scan that moved nothing: write it, sleep on
                self.s.unsaved_scan = False
                await self.flush()

    def _take(self, item: Inbound) -> Answered[Contract] | None:
        """The action the step waits for, or None after handling (or refusing) anything else."""
        if item.action == Action.NOTES:
            self.inbox.consume(item)
            self.rec.event(
                "note",
                item.actor,
                "note added",
                self.s.step,
                visibility=getattr(item.payload, "visibility", "internal"),
                private={"text": getattr(item.payload, "text", "")},
            )
            return None
        if item.action in ASSIGNMENT:
            self._assign(item)
            return None
        if item.action == Action.WITHDRAWAL and self.s.money_moved:
            self.refuse(item, "money has already moved; the case can no longer be withdrawn")
            return None
        if item.action == Action.WITHDRAWAL:
            self.inbox.consume(item)
            self.rec.event("withdrawn", item.actor, "customer withdrew the case", self.s.step)
            raise Closing(CloseReason.WITHDRAWN, "withdrawn by the customer")
        if item.action == Action.ESCALATION:
            self.inbox.consume(item)
            self.inbox.expecting = set()
            raise Escalated(f"escalated by {item.actor}", getattr(item.payload, "reason", ""))
        if item.action not in self.inbox.expecting:
            # Valid when sent, overtaken since (e.g. a timer fired first).
            self.refuse(item, f"case is at step {self.s.step}, which does not take {item.action}")
            return None
        self.inbox.consume(item)
        self.inbox.expecting = set()
        return Answered(item.payload, item.actor)

    def _assign(self, item: Inbound) -> None:
        """Claim, assign or release: the assignee changes, audited with who did it and from whom."""
        problem = assignment_problem(item.payload, self.s.assigned_to)
        if problem is not None:
            self.refuse(item, problem)
            return
        self.inbox.consume(item)
        after = None if item.action == Action.RELEASE else getattr(item.payload, "person_id", None)
        what = {Action.CLAIM: "claimed", Action.ASSIGN: "assigned", Action.RELEASE: "released"}[item.action]
        reason = getattr(item.payload, "reason", None)
        self.reassign(after, what, item.actor, **({"reason": reason} if reason else {}))

    def reassign(self, after: str | None, what: str, actor: str, **why: object) -> None:
        """The assignee changes (by hand, or `auto_assigned`): one audited event; the view's
        `assigned_to` and the `AssignedTo` search attribute follow with the next write."""
        before = self.s.assigned_to
        if after == before:
            return  # claimed again by the assignee, or assigned to them again: nothing changes
        self.s.assigned_to = after
        summary = f"{what}: {before or 'queue'} → {after or 'queue'}"
        self.rec.event(what, actor, summary, self.s.step, assigned_from=before, assigned_to=after, **why)

    def refuse(self, item: Inbound, why: str) -> None:
        if not self.inbox.refuse(item, why):
            self.rec.event("signal_ignored", item.actor, f"{item.action} ignored: {why}", self.s.step)

    async def while_running(self, step: Step, work: Awaitable[T]) -> T:
        """Await a provider call while the step's clock runs its ladder, so a refund or credit that
        keeps failing past the step's limit is a breach that people hear about (it keeps retrying)."""
        task = asyncio.ensure_future(work)
        clock = self.ladder.clocks[step]
        while not task.done() and (due := await self._sleep(clock, task.done)) is not None:
            self.ladder.fire(due[0], due[1])
            await self.flush()
        return task.result()

    async def appeal(self, ends: datetime, case_id: str) -> tuple[Appeal, str, Money] | None:
        """After closing: an appeal within the window (its payload, who sent it, what earlier cases
        refunded on the lines it re-claims), or None when the window ends without one."""
        self.inbox.expecting = {Action.APPEAL}
        await self.flush()
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.inbox),
                    timeout=ends - workflow.now(),
                    timeout_summary=f"appeal window ends {self.ladder.local(ends)}",
                )
            except TimeoutError:
                self.inbox.expecting = set()
                return None
            item = self.inbox.pop()
            if item.action != Action.APPEAL:
                self.refuse(item, "the case is closed")
                continue
            # The reopened case holds its order lines again: two open cases never share one.
            claim = await calls.reclaim_lines(case_id)
            if claim.held_by is not None:
                self.refuse(item, f"order line {claim.line_id} now has another open case ({claim.held_by})")
                continue
            self.inbox.expecting = set()
            self.inbox.consume(item)
            assert isinstance(item.payload, Appeal)
            return item.payload, item.actor, claim.already_refunded

    def _summary(self, due: Due | None) -> str | None:
        if due is None:
            return None
        clock, rung, at = due
        return f"SLA {clock.name} {rung} at {self.ladder.local(at)}"
