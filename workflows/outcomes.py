"""How a wait at a step ends: someone answered, the limit decided, or the case unwinds.

A step's method reads its outcome explicitly: `Answered` carries the typed payload and who sent it;
`TimedOut` names the breach action the step's limit took. Withdrawal, expiry and escalation unwind
the process as exceptions (`Closing`, `Escalated`), caught once in `CaseWorkflow.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.enums import CloseReason
    from domain.steps import BreachAction

P = TypeVar("P")


@dataclass(frozen=True)
class Answered(Generic[P]):
    payload: P
    actor: str


@dataclass(frozen=True)
class TimedOut:
    """The step's limit was reached and its breach action (`auto_accept`, `to_dispute`, ...) ends it."""

    action: BreachAction


class Escalated(Exception):
    """Unwinds the process to the dispute team; `detail` is free text (kept private)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class Closing(Exception):
    """Unwinds the process to closing (withdrawal, expiry, rejection)."""

    def __init__(self, reason: CloseReason, why: str) -> None:
        super().__init__(why)
        self.reason = reason
        self.why = why
