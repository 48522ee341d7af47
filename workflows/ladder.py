"""The SLA ladder of a case: its clocks, the calendars they count in, and what each rung does.

Each waiting step runs a clock (DESIGN §3); the case also runs a platform clock while the platform or
the merchant works on it. The ladder says which rung is due next (75 % warning, the limit, 125 %
escalation) so the wait can sleep until exactly then, and applies a rung when its time comes. Like the
updatable timer of samples-python, a wait wakes early when the deadline moves: the calendar changed
(snapshots reloaded by a local activity, never read here) or ops froze or thawed the case's clocks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain import calendar as cal
    from domain.calendar import CalendarSnapshot
    from domain.conversation import DESK_CALENDAR
    from domain.enums import Step
    from domain.models import CaseRequest
    from domain.policy import CasePolicy
    from domain.sla import ClockExplanation, Rung, SlaClock, explain, start_clock
    from domain.steps import BreachAction, StepLimit, spec_of
    from domain.tiers import SUPERVISOR_ESCALATION, escalation_role
    from workflows import calls, shared
    from workflows.recorder import Recorder
    from workflows.state import CaseState

# Steps where the merchant owes the customer a delivery after the case was decided (and maybe paid).
DELIVERY_STEPS = {Step.SHIPPING_REPLACEMENT, Step.REPAIRING, Step.RESENDING, Step.OUTBOUND_IN_TRANSIT}
# The platform clock stops while the case waits on the customer or the carrier, and once resolved.
PLATFORM_IDLE_STEPS = {
    Step.SUBMITTED,
    Step.AWAITING_CUSTOMER_INFO,
    Step.AWAITING_CUSTOMER_DECISION,
    Step.AWAITING_RETURN_SHIPMENT,
    Step.RETURN_IN_TRANSIT,
    Step.OUTBOUND_IN_TRANSIT,
    Step.FOLLOW_UP,
    Step.CLOSED,
}

Due = tuple[SlaClock, Rung, datetime]


class Ladder:
    def __init__(
        self, request: CaseRequest, received_at: datetime, policy: CasePolicy, s: CaseState, rec: Recorder
    ) -> None:
        self.request, self.received_at, self.policy, self.s, self.rec = request, received_at, policy, s, rec
        self.snapshots: dict[str, CalendarSnapshot] = {}
        self.clocks: dict[Step, SlaClock] = {}
        self.platform: SlaClock | None = None
        self.frozen: str | None = None
        self.calendar_dirty = False

    # ------------------------------------------------------------------ calendars and clocks

    async def load_calendars(self) -> str | None:
        """Load the calendar snapshots; returns the reason of a freeze in force over this case."""
        # The service desk's too: the next-day callback falls on its next working day (seed 003).
        names = sorted(
            {limit.calendar for limit in self.policy.limits.values()}
            | {tier.limit.calendar for tier in self.policy.approval_tiers}
            | {"business", DESK_CALENDAR}
        )
        start: date = (self.received_at - timedelta(days=60)).date()
        order = self.request.order
        bundle = await calls.load_calendars(
            act.CalendarRequest(names=names, merchant_id=order.merchant_id, region=order.region, start=start)
        )
        self.snapshots = {name: shared.snapshot(snap) for name, snap in bundle.snapshots.items()}
        return bundle.frozen

    def start_platform_clock(self) -> None:
        limit = self.policy.platform_limit
        now = workflow.now()
        self.platform = start_clock(
            None, limit, now, self.snapshots.get(limit.calendar), self.policy.version, self.policy.time_scale
        )
        self.platform.pause(now)  # it runs from the first step the platform works on

    async def start_clock(self, step: Step, limit: StepLimit | None = None) -> None:
        """Start `step`'s clock on the policy's limit, or on `limit` (an approval tier's own)."""
        limit = limit or self.policy.limit(step)
        assert limit is not None, f"{step} takes no clock"  # the step table gives every waiting step one
        if self.calendar_dirty:  # changed while no clock was running
            self.calendar_dirty = False
            await self.load_calendars()
        now = workflow.now()
        clock = start_clock(
            step, limit, now, self.snapshots.get(limit.calendar), self.policy.version, self.policy.time_scale
        )
        if self.frozen is not None:
            clock.pause(now)
        self.clocks[step] = clock

    def follow_platform_clock(self) -> None:
        """The platform clock runs while the platform or merchant works and nothing is frozen."""
        if self.platform is None:
            return
        now = workflow.now()
        if self.frozen is not None or self.s.step in PLATFORM_IDLE_STEPS:
            self.platform.pause(now)
        elif self.platform.running_since is None:
            self.platform.resume(now, self.snapshots.get(self.platform.limit.calendar))

    def next_rung(self, clock: SlaClock) -> Due | None:
        """The next rung due: the step clock's or the platform clock's, whichever comes first."""
        due: Due | None = None
        for candidate in (clock, self.platform):
            if candidate is None:
                continue
            rung = candidate.next_rung(self.snapshots.get(candidate.limit.calendar))
            if rung is not None and (due is None or rung[1] < due[2]):
                due = (candidate, rung[0], rung[1])
        return due

    def stale(self, clock: SlaClock) -> bool:
        """The calendar changed, or the freeze state and the clock disagree."""
        return self.calendar_dirty or (self.frozen is not None) == (clock.running_since is not None)

    async def apply_changes(self, clock: SlaClock) -> None:
        """A calendar change moves the deadline; a freeze pauses the clock, a thaw resumes it."""
        if self.calendar_dirty:
            self.calendar_dirty = False
            before = clock.due_at
            await self.load_calendars()
            clock.refresh_due(self.snapshots.get(clock.limit.calendar))
            if self.platform is not None and self.platform.running_since is not None:
                self.platform.refresh_due(self.snapshots.get(self.platform.limit.calendar))
            if clock.due_at != before:
                self._event(
                    "deadline_moved", f"calendar changed: {clock.step} now due {self.local(clock.due_at)}"
                )
        now = workflow.now()
        if self.frozen is not None and clock.running_since is not None:
            clock.pause(now)
            self._event("clock_frozen", f"{clock.step} clock frozen: {self.frozen}", actor="ops")
        elif self.frozen is None and clock.running_since is None:
            clock.resume(now, self.snapshots.get(clock.limit.calendar))
            self._event(
                "clock_thawed", f"{clock.step} clock resumed, due {self.local(clock.due_at)}", actor="ops"
            )
        self.follow_platform_clock()

    # ------------------------------------------------------------------ rungs

    def fire(self, clock: SlaClock, rung: Rung) -> BreachAction | None:
        """Apply one rung of the ladder; returns the breach action when it ends the wait.

        Only the platform's and the merchant's limits breach (DESIGN §8); a customer's, the carrier's
        or the dispute parties' limit ends in an expiry or an automatic decision with a reason code.
        """
        now = workflow.now()
        clock.fire(rung, now)
        step = clock.step
        spec = spec_of(step) if step is not None else None
        breaches = spec is None or spec.breaches
        action: BreachAction = self.policy.breach_action(step) if step is not None else "escalate"
        if rung == "warn":
            kind = "sla_warning" if breaches else "reminder"
            self._event(kind, f"75% of the {clock.limit.describe()} limit of {clock.name} used")
            parties = (
                ("customer", "merchant") if clock.limit.who_acts == "parties" else (clock.limit.who_acts,)
            )
            if (tier := self._tier(clock)) is not None:
                parties = (tier,)
            for role in parties:
                self.rec.notify(role, kind, f"{clock.name} is due at {self.local(clock.due_at)}")
            return None
        if rung == "escalate":
            if not breaches or action != "escalate":
                return None  # the wait already ended at the limit
            up = SUPERVISOR_ESCALATION
            if (tier := self._tier(clock)) is not None:
                up = escalation_role(self.policy.approval_tiers, tier)
            self._event("sla_escalated", f"{clock.name} 25% past its limit: escalated one level up", to=up)
            self.rec.notify(up, "sla_escalated", f"Step {clock.name} is overdue")
            if spec is not None and spec.party == "merchant":
                # The merchant stays silent past escalation: the dispute team decides instead.
                kind = "undelivered" if step in DELIVERY_STEPS else "merchant_overdue"
                self._event(kind, f"{step} long overdue: the dispute team decides")
                return "to_dispute"
            return None
        if not breaches:
            self._event(
                "limit_reached",
                f"{clock.name} limit of {clock.limit.describe()} reached: {action}",
                action=action,
                clock=clock.name,
            )
            return action
        self._event(
            "sla_breached",
            f"{clock.name} missed its {clock.limit.describe()} limit; {action}",
            action=action,
            clock=clock.name,
            party=spec.party if spec is not None else "platform",
            step_limit=clock.limit.describe(),
            due_at=clock.due_at.isoformat() if clock.due_at else None,
        )
        self.s.breached = True
        if action == "escalate":
            # An approval tier's breach goes to the tier's approvers (managers above the first bound).
            self.rec.notify(
                self._tier(clock) or "supervisor", "sla_breached", f"{clock.name} missed its limit"
            )
            return None
        return action

    def _tier(self, clock: SlaClock) -> str | None:
        """The role of the approval tier whose limit `clock` runs (None: not a tiered approval)."""
        if clock.step == Step.AWAITING_APPROVAL and self.s.approval_tier is not None:
            return self.s.approval_tier
        return None

    # ------------------------------------------------------------------ for the view

    def deadlines(self) -> dict[str, datetime]:
        deadlines: dict[str, datetime] = {}
        clock = self.clocks.get(self.s.step)
        if clock is not None and clock.due_at is not None:
            deadlines[str(self.s.step)] = clock.due_at
        if self.platform is not None and self.platform.due_at is not None:
            deadlines[self.platform.name] = self.platform.due_at
        return deadlines

    def explain(self) -> list[ClockExplanation]:
        now = workflow.now()
        shown = [c for step, c in self.clocks.items() if step == self.s.step or c.breached_at is not None]
        if self.platform is not None:
            shown.append(self.platform)
        return [explain(clock, self.snapshots.get(clock.limit.calendar), now) for clock in shown]

    def next_desk_day(self) -> datetime:
        """The start of the next day the service desk works (seed 003: the agent calls back then)."""
        # Cases started before the desk calendar was loaded replay with the business calendar they used.
        desk = self.snapshots.get(DESK_CALENDAR) or self.snapshots["business"]
        return cal.next_day_start(desk, workflow.now())

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        snapshot = self.snapshots.get("business")
        local = cal.to_local(snapshot, moment) if snapshot else moment
        return f"{local:%Y-%m-%d %H:%M}"

    def _event(self, kind: str, summary: str, actor: str = "system", **payload: object) -> None:
        self.rec.event(kind, actor, summary, self.s.step, **payload)
