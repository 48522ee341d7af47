"""Same-name fakes of the case workflow's activities, for the fast branch tests.

The samples-python pattern: a worker registers `@activity.defn(name="execute_refund")` in place of the
real activity, so the workflow runs unchanged while a test decides what the store and the providers
answer. They are fakes, not the real activities, because the branches they drive are awkward end to
end: a provider that refuses or fails a set number of times, a store write whose answer is lost, a
notification channel that is down. No database and no HTTP: a case runs in memory, in milliseconds.

Each fake keeps what it was asked, so a test can assert on it (every call, with `is_local`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import contracts as act
from domain.calendar import CalendarSnapshot
from domain.calendar_source import build_snapshot
from domain.models import CaseDelta, CaseEvent, OutboxMessage


@dataclass
class FakeStore:
    """The case store in memory: `record_case_delta` (a local activity) applied like the real store.

    Idempotent like the real one: a delta whose version is stored changes nothing, events insert once
    by seq and messages once by idempotency key. `lose_answer_of` holds versions whose first write is
    stored and then answered with an error (the answer was lost): the workflow's retry must bring the
    same version, and must not queue anything twice. Problems (a version out of order, an event seq
    or a message key used twice) are collected in `problems`, not raised: an activity that raised
    would only be retried forever by the store's retry policy.
    """

    deltas: dict[str, list[CaseDelta]] = field(default_factory=dict)
    attempts: Counter[tuple[str, int]] = field(default_factory=Counter)
    lose_answer_of: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    online_agent: str | None = None  # whom auto-assignment picks; nobody is online by default

    @activity.defn(name=act.RECORD_DELTA)
    async def record_case_delta(self, delta: CaseDelta) -> None:
        self.attempts[(delta.case_id, delta.version)] += 1
        stored = self.deltas.setdefault(delta.case_id, [])
        if any(d.version == delta.version for d in stored):
            return  # a retried (or replayed) write: the store has it
        if delta.version != len(stored) + 1:
            self.problems.append(f"{delta.case_id}: version {delta.version} after {len(stored)}")
        stored.append(delta)
        seqs = Counter(e.seq for d in stored for e in d.events)
        keys = Counter(m.idempotency_key for d in stored for m in d.notifications)
        self.problems += [f"event seq {e.seq} twice" for e in delta.events if seqs[e.seq] > 1]
        self.problems += [  # the real outbox would drop the second message silently
            f"message key {m.idempotency_key} twice"
            for m in delta.notifications
            if keys[m.idempotency_key] > 1
        ]
        if delta.version in self.lose_answer_of and self.attempts[(delta.case_id, delta.version)] == 1:
            raise ApplicationError(f"store write v{delta.version}: connection reset before the answer")

    @activity.defn(name=act.PICK_ASSIGNEE)
    async def pick_assignee(self, request: act.AssigneeRequest) -> act.AssigneePick:
        return act.AssigneePick(person_id=self.online_agent, queue=request.queue or "general")

    def events(self, case_id: str) -> list[CaseEvent]:
        return [e for d in self.deltas.get(case_id, []) for e in d.events]

    def kinds(self, case_id: str) -> list[str]:
        return [e.kind for e in self.events(case_id)]

    def notifications(self, case_id: str) -> list[OutboxMessage]:
        return [m for d in self.deltas.get(case_id, []) for m in d.notifications]

    def sent(self, case_id: str) -> list[tuple[str, str]]:
        """(recipient_role, template) of every message queued in the outbox, in order."""
        return [(m.recipient_role, m.template) for m in self.notifications(case_id)]

    def view(self, case_id: str) -> dict[str, Any]:
        """The stored view: every delta's changed fields merged, like the store's projection."""
        merged: dict[str, Any] = {}
        for delta in self.deltas.get(case_id, []):
            merged.update(delta.view)
        return merged


@lru_cache(maxsize=16)
def _snapshot(name: str, start: date, days: int) -> CalendarSnapshot:
    return build_snapshot(name, start, start + timedelta(days=days))


@dataclass
class FakeCalendars:
    """`load_calendars` without the store: the default calendars (China's public holidays, built by
    the real `build_snapshot`), no stored overrides; `frozen` plays a holiday freeze in force."""

    frozen: str | None = None
    loads: int = 0
    # The snapshots last given, by name: what a test needs to compute a clock's rung times.
    snapshots: dict[str, CalendarSnapshot] = field(default_factory=dict)

    @activity.defn(name=act.LOAD_CALENDARS)
    async def load_calendars(self, request: act.CalendarRequest) -> act.CalendarBundle:
        self.loads += 1
        snapshots = {name: _snapshot(name, request.start, request.days) for name in request.names}
        self.snapshots.update(snapshots)
        return act.CalendarBundle(snapshots=snapshots, frozen=self.frozen)


@dataclass(frozen=True)
class Call:
    """One attempt of a provider activity, as the fake saw it."""

    activity: str
    key: str
    is_local: bool
    attempt: int


@dataclass
class FakeProvider:
    """The payment, logistics, coupon and notification providers, scripted per test.

    - `refuse_refunds`: refund seqs the provider refuses (ProviderRejected, non-retryable), like a
      closed account; a new decision (a new seq) may be paid.
    - `refund_outages`: how many refund attempts fail transiently (ProviderUnavailable) before one
      succeeds; every attempt carries the same key, and a paid key is never paid twice.
    - `notifications_down`: `send_notification` always fails (the case never calls it: messages go
      through the store's outbox).
    """

    refuse_refunds: set[int] = field(default_factory=set)
    refund_outages: int = 0
    notifications_down: bool = False
    calls: list[Call] = field(default_factory=list)
    paid: dict[str, act.RefundOutcome] = field(default_factory=dict)

    def _seen(self, name: str, key: str) -> None:
        info = activity.info()
        self.calls.append(Call(name, key, info.is_local, info.attempt))

    def attempts(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.activity == name]

    @activity.defn(name=act.EXECUTE_REFUND)
    async def execute_refund(self, request: act.RefundRequest) -> act.RefundOutcome:
        key = f"{request.case_id}-refund-{request.seq}"
        self._seen(act.EXECUTE_REFUND, key)
        if request.seq in self.refuse_refunds:
            raise ApplicationError(
                f"refund {key} rejected by the provider: account closed",
                type="ProviderRejected",
                non_retryable=True,
            )
        if key in self.paid:
            return self.paid[key]
        if self.refund_outages > 0:
            self.refund_outages -= 1
            raise ApplicationError(f"refund {key}: provider unavailable: 503", type="ProviderUnavailable")
        outcome = act.RefundOutcome(
            status="succeeded", provider_refund_id=f"R-{len(self.paid) + 1}", amount=request.amount
        )
        self.paid[key] = outcome
        return outcome

    @activity.defn(name=act.CREATE_RETURN_LABEL)
    async def create_return_label(self, request: act.ReturnLabelRequest) -> act.ProviderReceipt:
        self._seen(act.CREATE_RETURN_LABEL, request.idempotency_key)
        return act.ProviderReceipt(reference=f"L-{request.idempotency_key}", tracking_no="SF-LABEL")

    @activity.defn(name=act.OPEN_CARRIER_CLAIM)
    async def open_carrier_claim(self, request: act.CarrierClaimRequest) -> act.ProviderReceipt:
        self._seen(act.OPEN_CARRIER_CLAIM, request.idempotency_key)
        return act.ProviderReceipt(reference=f"CC-{request.idempotency_key}", tracking_no=request.tracking_no)

    @activity.defn(name=act.ISSUE_CREDIT)
    async def issue_credit(self, request: act.CreditRequest) -> act.ProviderReceipt:
        self._seen(act.ISSUE_CREDIT, request.idempotency_key)
        return act.ProviderReceipt(reference=f"C-{request.idempotency_key}")

    @activity.defn(name=act.SEND_NOTIFICATION)
    async def send_notification(self, request: act.NotificationRequest) -> act.ProviderReceipt:
        self._seen(act.SEND_NOTIFICATION, request.idempotency_key)
        if self.notifications_down:
            raise ApplicationError("notification gateway: 503", type="ProviderUnavailable")
        return act.ProviderReceipt(reference=f"N-{request.idempotency_key}")
