"""Calendar and freeze administration, written once for the API and the CLI (DESIGN §3).

Every change is stored first and then signalled to the open cases it affects (services.case_signals):
a holiday or extra working day, a merchant's or the platform's working hours, a freeze and its thaw.
The store is the truth: a case opened later reads the change when it starts, and a change whose
signals could not all be sent stays stored. Each change is idempotent, so repeating it signals every
case in scope again; how to say that (a 503 problem, exit code 2) is the caller's business.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, Literal, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from activities.calendars import effective_hours
from domain import names
from domain.calendar_source import DEFAULT_CALENDARS, WorkingHours
from services.case_signals import Connect, SignalOutcome, signal_open_cases
from store import calendars, freezes, listing
from store.models import FreezeRow

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which open cases a change reaches: one merchant's, one region's, both, or all."""

    merchant_id: str | None = None
    region: str | None = None

    def __str__(self) -> str:
        merchant = f"merchant {self.merchant_id}" if self.merchant_id else ""
        parts = [merchant, f"region {self.region}" if self.region else ""]
        return " in ".join(p for p in parts if p) or "every open case"


@dataclass(frozen=True, slots=True)
class HoursInForce:
    calendar: str
    merchant_id: str | None
    source: Literal["merchant", "platform", "standard"]
    hours: WorkingHours | None  # None: the calendar's standard hours
    standard: str


@dataclass(frozen=True, slots=True)
class HoursCleared:
    removed: bool  # False: none were stored for the scope (an earlier run removed them)
    remaining: HoursInForce


@dataclass(frozen=True, slots=True)
class Applied(Generic[T]):
    """A stored change and what telling the open cases in scope came to."""

    stored: str  # what is stored, in words
    signal: str
    scope: Scope
    outcome: SignalOutcome | None  # None: the caller asked not to signal
    result: T

    @property
    def complete(self) -> bool:
        return self.outcome is None or self.outcome.complete


def platform_or_merchant(merchant_id: str | None) -> str:
    return f"for merchant {merchant_id}" if merchant_id else "platform-wide"


def hours_in_force(session: Session, calendar: str, merchant_id: str | None) -> HoursInForce:
    """The working hours a calendar counts for a merchant (or the platform), and where they come from."""
    own = merchant_id is not None and calendars.get_calendar_hours(session, calendar, merchant_id) is not None
    found = effective_hours(session, calendar, merchant_id)
    source: Literal["merchant", "platform", "standard"] = (
        "merchant" if own else "platform" if found is not None else "standard"
    )
    return HoursInForce(calendar, merchant_id, source, found, DEFAULT_CALENDARS[calendar])


class CalendarAdmin:
    def __init__(
        self, sessions: sessionmaker[Session], temporal: Connect, rpc_timeout: timedelta | None = None
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._rpc_timeout = rpc_timeout

    async def add_override(
        self,
        calendar: str,
        day: date,
        kind: str,
        merchant_id: str | None,
        note: str = "",
        *,
        signal: bool = True,
    ) -> Applied[None]:
        """A holiday (`closed`) or an extra working day (`working`), platform-wide or one merchant's."""

        def store() -> None:
            with self._sessions.begin() as session:
                calendars.add_calendar_override(session, calendar, merchant_id, day, kind, note)

        await asyncio.to_thread(store)
        stored = f"{day} as a {kind} day in calendar {calendar} {platform_or_merchant(merchant_id)}"
        return await self._tell(stored, names.SIGNAL_CALENDAR_CHANGED, None, Scope(merchant_id), None, signal)

    async def set_hours(
        self,
        calendar: str,
        hours: WorkingHours,
        merchant_id: str | None,
        note: str = "",
        *,
        signal: bool = True,
    ) -> Applied[HoursInForce]:
        """Replace the working hours of a merchant (or platform-wide); days not given are closed."""

        def store() -> HoursInForce:
            with self._sessions.begin() as session:
                calendars.set_calendar_hours(
                    session, calendar, merchant_id, hours.weekly, hours.workday_periods, hours.timezone, note
                )
                return hours_in_force(session, calendar, merchant_id)

        now_in_force = await asyncio.to_thread(store)
        stored = f"the working hours of calendar {calendar} {platform_or_merchant(merchant_id)}"
        return await self._tell(
            stored, names.SIGNAL_CALENDAR_CHANGED, None, Scope(merchant_id), now_in_force, signal
        )

    async def clear_hours(
        self, calendar: str, merchant_id: str | None, *, signal: bool = True
    ) -> Applied[HoursCleared]:
        """Back to the platform's (or the standard) hours. With none stored the cases in scope are still
        signalled: an earlier run may have removed them without telling the cases."""

        def clear() -> HoursCleared:
            with self._sessions.begin() as session:
                removed = calendars.clear_calendar_hours(session, calendar, merchant_id)
                return HoursCleared(removed, hours_in_force(session, calendar, merchant_id))

        cleared = await asyncio.to_thread(clear)
        stored = (
            f"the removal of the working hours of calendar {calendar} {platform_or_merchant(merchant_id)}"
        )
        return await self._tell(
            stored, names.SIGNAL_CALENDAR_CHANGED, None, Scope(merchant_id), cleared, signal
        )

    async def freeze(self, scope: Scope, reason: str, actor: str) -> Applied[None]:
        """Pause every running clock in scope; cases opened in it until the thaw start frozen."""

        def store() -> None:  # first: a case starting now reads it, or is already signalled
            with self._sessions.begin() as session:
                freezes.start_freeze(session, scope.merchant_id, scope.region, reason, actor)

        await asyncio.to_thread(store)
        return await self._tell(f"the freeze of {scope} ({reason})", names.SIGNAL_FREEZE, reason, scope, None)

    async def thaw(self, scope: Scope) -> Applied[int]:
        """End the freeze of exactly this scope and resume the cases no other freeze covers; the
        result counts those another freeze still holds."""

        def store() -> int:
            with self._sessions.begin() as session:
                freezes.end_freeze(session, scope.merchant_id, scope.region)
                return len(
                    listing.open_case_workflow_ids(
                        session, merchant_id=scope.merchant_id, region=scope.region, frozen=True
                    )
                )

        still_frozen = await asyncio.to_thread(store)
        return await self._tell(
            f"the end of the freeze of {scope}", names.SIGNAL_THAW, None, scope, still_frozen, frozen=False
        )

    def hours(self, calendar: str, merchant_id: str | None) -> HoursInForce:
        with self._sessions() as session:
            return hours_in_force(session, calendar, merchant_id)

    def freezes(self) -> list[FreezeRow]:
        with self._sessions() as session:
            return list(freezes.list_freezes(session))

    async def _tell(
        self,
        stored: str,
        signal: str,
        arg: object,
        scope: Scope,
        result: T,
        send: bool = True,
        frozen: bool | None = None,
    ) -> Applied[T]:
        outcome = None
        if send:
            outcome = await signal_open_cases(
                self._temporal, self._sessions, signal, arg, merchant_id=scope.merchant_id,
                region=scope.region, frozen=frozen, rpc_timeout=self._rpc_timeout,
            )  # fmt: skip
        return Applied(stored, signal, scope, outcome, result)
