"""The inbox: every human action, whether it came as an Update or a signal, in arrival order.

Handlers only validate and enqueue; the process consumes the inbox in its own coroutine, so it reads
top to bottom. An Update's caller is answered once its effect is stored (`settle`), or refused with
the reason when the action was overtaken (a timer ended the step first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.enums import Action
    from domain.models import ActionEnvelope, CaseView, Contract
    from domain.names import WRONG_STEP

# Validates an action's payload against the case now (raises ApplicationError to refuse it).
Check = Callable[[Action, dict[str, Any]], Contract]


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


def register_handlers(
    inbox: Inbox, check: Check, view: Callable[[], CaseView], ignored: Callable[[str, str], None]
) -> None:
    """One Update (validated) and one signal of the same name per human action, both into `inbox`.

    A refused signal cannot be answered: `ignored(actor, why)` records it and the case stays as it is."""
    for action in Action:
        workflow.set_update_handler(
            action.value, _update_handler(inbox, check, view, action), validator=_validator(check, action)
        )
        workflow.set_signal_handler(action.value, _signal_handler(inbox, check, ignored, action))


def _validator(check: Check, action: Action) -> Callable[[ActionEnvelope], None]:
    def validate(envelope: ActionEnvelope) -> None:
        check(action, envelope.payload)

    return validate


def _update_handler(inbox: Inbox, check: Check, view: Callable[[], CaseView], action: Action) -> Any:
    async def handle(envelope: ActionEnvelope) -> CaseView:
        item = inbox.accept(action, check(action, envelope.payload), envelope.actor, "update")
        refused = await inbox.outcome(item)
        if refused is not None:
            raise ApplicationError(refused, type=WRONG_STEP, non_retryable=True)
        return view()

    return handle


def _signal_handler(inbox: Inbox, check: Check, ignored: Callable[[str, str], None], action: Action) -> Any:
    def handle(payload: dict[str, Any]) -> None:
        body = dict(payload or {})
        actor = str(body.pop("actor", "temporal-ui"))
        try:
            checked = check(action, body)
        except ApplicationError as err:
            ignored(actor, f"{action} ignored: {err.message}")
            return
        inbox.accept(action, checked, actor, "signal")

    return handle
