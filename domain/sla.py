"""SLA clocks: a limit in working or calendar hours that can pause, resume, move and breach. Pure.

The escalation ladder of a clock has three rungs, each firing once: warn at 75 % of the limit,
breach at 100 % (the step's breach handling applies), escalate one level up at 125 %.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator

from domain import calendar as cal
from domain.calendar import CalendarSnapshot
from domain.durations import Duration
from domain.enums import Step
from domain.modelbase import DomainModel
from domain.policy import StepLimit

Rung = Literal["warn", "breach", "escalate"]
RUNG_FRACTIONS: dict[Rung, tuple[int, int]] = {"warn": (3, 4), "breach": (1, 1), "escalate": (5, 4)}


class Interval(DomainModel):
    start: datetime
    end: datetime


PLATFORM = "platform"


class SlaClock(DomainModel):
    step: Step | None  # None for the case-level platform clock
    limit: StepLimit
    budget: timedelta  # the limit after the policy's time scale
    policy_version: str
    calendar_version: str | None = None
    started_at: datetime
    running_since: datetime | None  # None while paused
    spent: list[Interval] = Field(default_factory=list)  # closed running intervals
    paused: list[Interval] = Field(default_factory=list)
    paused_since: datetime | None = None
    fired: list[Rung] = Field(default_factory=list)
    breached_at: datetime | None = None
    due_at: datetime | None = None

    @property
    def name(self) -> str:
        """The step the clock times, or `platform` for the case-level clock."""
        return str(self.step) if self.step is not None else PLATFORM

    # --- arithmetic on the clock's basis ---------------------------------------------------

    def _between(self, snapshot: CalendarSnapshot | None, a: datetime, b: datetime) -> timedelta:
        if self.limit.basis == "calendar" or snapshot is None:
            # In UTC: subtracting two datetimes of one zone would give wall-clock time across DST.
            return max(b.astimezone(UTC) - a.astimezone(UTC), timedelta(0))
        return cal.working_time_between(snapshot, a, b)

    def _add(self, snapshot: CalendarSnapshot | None, start: datetime, amount: timedelta) -> datetime:
        if self.limit.basis == "calendar" or snapshot is None:
            return start.astimezone(UTC) + amount
        return cal.add_working_hours(snapshot, start, amount)

    def used(self, snapshot: CalendarSnapshot | None, now: datetime) -> timedelta:
        total = sum((self._between(snapshot, i.start, i.end) for i in self.spent), timedelta(0))
        if self.running_since is not None:
            total += self._between(snapshot, self.running_since, now)
        return total

    def rung_time(self, snapshot: CalendarSnapshot | None, rung: Rung) -> datetime | None:
        """When a rung fires; None while paused."""
        if self.running_since is None:
            return None
        num, den = RUNG_FRACTIONS[rung]
        target = self.budget * num / den
        done = sum((self._between(snapshot, i.start, i.end) for i in self.spent), timedelta(0))
        return self._add(snapshot, self.running_since, max(target - done, timedelta(0)))

    def next_rung(self, snapshot: CalendarSnapshot | None) -> tuple[Rung, datetime] | None:
        for rung in RUNG_FRACTIONS:
            if rung not in self.fired:
                at = self.rung_time(snapshot, rung)
                return (rung, at) if at is not None else None
        return None

    def refresh_due(self, snapshot: CalendarSnapshot | None) -> None:
        self.due_at = self.rung_time(snapshot, "breach")
        if snapshot is not None and self.limit.basis == "working":
            self.calendar_version = snapshot.version

    # --- transitions ---------------------------------------------------------------------

    def pause(self, now: datetime) -> None:
        if self.running_since is None:
            return
        self.spent.append(Interval(start=self.running_since, end=now))
        self.running_since = None
        self.paused_since = now
        self.due_at = None

    def resume(self, now: datetime, snapshot: CalendarSnapshot | None) -> None:
        if self.running_since is not None:
            return
        if self.paused_since is not None:
            self.paused.append(Interval(start=self.paused_since, end=now))
        self.paused_since = None
        self.running_since = now
        self.refresh_due(snapshot)

    def fire(self, rung: Rung, now: datetime) -> None:
        if rung not in self.fired:
            self.fired.append(rung)
        if rung == "breach" and self.breached_at is None:
            self.breached_at = now

    def lateness(self, now: datetime) -> timedelta:
        return max(now - self.due_at, timedelta(0)) if self.due_at else timedelta(0)


def start_clock(
    step: Step | None,
    limit: StepLimit,
    start: datetime,
    snapshot: CalendarSnapshot | None,
    policy_version: str,
    time_scale: int = 1,
) -> SlaClock:
    """A running clock. Working-hour clocks start counting at the next working moment."""
    running_since = start
    if limit.basis == "working" and snapshot is not None:
        running_since = cal.next_working_moment(snapshot, start)
    clock = SlaClock(
        step=step,
        limit=limit,
        budget=limit.duration / time_scale,
        policy_version=policy_version,
        started_at=start,
        running_since=running_since,
        # Given, though they are the defaults: the clock sets them as it runs, and a model given
        # every field it will set shares its field-name set with every other clock (domain.modelbase).
        calendar_version=None,
        paused_since=None,
        breached_at=None,
        due_at=None,
    )
    clock.refresh_due(snapshot)
    return clock


class ClockExplanation(DomainModel):
    """'Why is this due then?' for one step (or, with `step` None, the case's platform clock)."""

    clock: str
    step: Step | None

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        # Views stored before the platform clock existed have no `clock`: it was the step's.
        if isinstance(data, dict) and "clock" not in data:
            return {**data, "clock": data.get("step") or PLATFORM}
        return data

    limit: str
    basis: str
    calendar: str
    calendar_version: str | None
    policy_version: str
    started_at: datetime
    used: Duration
    remaining: Duration | None
    paused: list[Interval]
    frozen_since: datetime | None
    due_at: datetime | None
    due_in_calendar_time: Duration | None
    breached_at: datetime | None
    late_by: Duration | None
    rungs_fired: list[Rung]


def _whole_seconds(span: timedelta | None) -> timedelta | None:
    # ISO 8601 durations in JSON (RFC 3339 grammar) carry no fractional seconds.
    return None if span is None else timedelta(seconds=int(span.total_seconds()))


def explain(clock: SlaClock, snapshot: CalendarSnapshot | None, now: datetime) -> ClockExplanation:
    used = _whole_seconds(clock.used(snapshot, now)) or timedelta(0)
    due = clock.due_at
    return ClockExplanation(
        clock=clock.name,
        step=clock.step,
        limit=clock.limit.describe(),
        basis=clock.limit.basis,
        calendar=clock.limit.calendar if clock.limit.basis == "working" else "calendar hours",
        calendar_version=clock.calendar_version,
        policy_version=clock.policy_version,
        started_at=clock.started_at,
        used=used,
        remaining=_whole_seconds(max(clock.budget - used, timedelta(0)))
        if clock.breached_at is None
        else timedelta(0),
        paused=list(clock.paused),
        frozen_since=clock.paused_since,
        due_at=due,
        due_in_calendar_time=_whole_seconds(due - now) if due is not None and due > now else None,
        breached_at=clock.breached_at,
        late_by=_whole_seconds(clock.lateness(now)) if clock.breached_at else None,
        rungs_fired=list(clock.fired),
    )
