"""The inbox: every human action, whether it came as an Update or a signal, in arrival order.

Handlers only validate and enqueue; the process consumes the inbox in its own coroutine, so it reads
top to bottom. An Update's caller is answered once its effect is stored (`settle`), or refused with
the reason when the action was overtaken (a timer ended the step first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.enums import Action
    from domain.models import ActionEnvelope, CaseView, Contract
    from domain.names import INVALID_PAYLOAD, WRONG_STEP

T = TypeVar("T")

# Validates an action's payload against the case now (raises ApplicationError to refuse it).
Check = Callable[[Action, dict[str, Any], str], Contract]


@dataclass
class Inbound:
    seq: int
    action: Action
    payload: Contract
    actor: str
    via: str  # "update" or "signal"


class Inbox:
    def __init__(self) -> None:
        self.items: list[Inbound] = []
        self.expecting: set[Action] = set()  # what the current step waits for
        self._results: dict[int, str | None] = {}  # update seq -> None (done) or why it was refused
        self._consumed: list[Inbound] = []
        self._next = 0

    def __bool__(self) -> bool:
        return bool(self.items)

    def accept(self, action: Action, payload: Contract, actor: str, via: str) -> Inbound:
        self._next += 1
        item = Inbound(self._next, action, payload, actor, via)
        self.items.append(item)
        return item

    def pop(self) -> Inbound:
        return self.items.pop(0)

    def consume(self, item: Inbound) -> None:
        """The process took it; its Update returns after the next store write."""
        self._consumed.append(item)

    def refuse(self, item: Inbound, why: str) -> bool:
        """Refuse an Update with `why`; False for a signal (which cannot be refused: record it)."""
        if item.via != "update":
            return False
        self._results[item.seq] = why
        return True

    def settle(self) -> None:
        """Everything consumed so far is stored: answer its Updates."""
        for item in self._consumed:
            if item.via == "update":
                self._results.setdefault(item.seq, None)
        self._consumed.clear()

    async def outcome(self, item: Inbound) -> str | None:
        """For an Update's handler: None once its effect is stored, else why it was refused."""
        await workflow.wait_condition(lambda: item.seq in self._results)
        return self._results.pop(item.seq)


class Handlers:
    """One dynamic Update handler and one dynamic signal handler for every human action, by name.

    Declared once on the workflow class (`@workflow.update(dynamic=True)`), not registered per case:
    per-case registration of two handlers for each of the actions cost about 30 KB per cached case.
    An Update is validated (`check`) before it is accepted; a refused signal cannot be answered, so
    `ignored(actor, why)` records it and the case stays as it is."""

    def __init__(
        self, inbox: Inbox, check: Check, view: Callable[[], CaseView], ignored: Callable[[str, str], None]
    ) -> None:
        self.inbox, self.check, self.view, self.ignored = inbox, check, view, ignored

    def validate(self, name: str, args: Sequence[RawValue]) -> None:
        envelope = _envelope(args)
        self.check(_action(name), envelope.payload, envelope.actor)

    async def update(self, name: str, args: Sequence[RawValue]) -> CaseView:
        action, envelope = _action(name), _envelope(args)
        checked = self.check(action, envelope.payload, envelope.actor)
        item = self.inbox.accept(action, checked, envelope.actor, "update")
        refused = await self.inbox.outcome(item)
        if refused is not None:
            raise ApplicationError(refused, type=WRONG_STEP, non_retryable=True)
        return self.view()

    def signal(self, name: str, args: Sequence[RawValue]) -> None:
        actor = "temporal-ui"
        try:  # a signal cannot be refused, and must never fail the case: record what was wrong
            body = dict(_decode(args, dict) or {}) if args else {}
            actor = str(body.pop("actor", actor))
            action = _action(name)
            checked = self.check(action, body, actor)
        except ApplicationError as err:
            self.ignored(actor, f"{name} ignored: {err.message}")
            return
        self.inbox.accept(action, checked, actor, "signal")


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise ApplicationError(f"{name!r} is not an action of a case", type=INVALID_PAYLOAD) from None


def _envelope(args: Sequence[RawValue]) -> ActionEnvelope:
    if len(args) != 1:
        raise ApplicationError("an action takes one argument, its envelope", type=INVALID_PAYLOAD)
    return _decode(args, ActionEnvelope)


def _decode(args: Sequence[RawValue], kind: type[T]) -> T:
    try:
        return workflow.payload_converter().from_payload(args[0].payload, kind)
    except Exception as err:  # the converter raises what its codec or pydantic raises
        raise ApplicationError(f"unreadable action payload: {err}", type=INVALID_PAYLOAD) from err
