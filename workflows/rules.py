"""Which actions a case takes now, and with which amounts: the Updates' validators (and the signals').

A refusal raises ApplicationError before anything is written: the API answers it 409 (wrong step,
closed case) or 422 (invalid payload, an amount out of bounds).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from domain.approval import option_problem
    from domain.enums import Action, Resolution, Step
    from domain.models import (
        ACTION_PAYLOADS,
        Claim,
        Contract,
        CustomerDecision,
        DisputeRuling,
        Proposal,
        ProposalOption,
        Release,
    )
    from domain.money import Money
    from domain.names import ASSIGNMENT_CONFLICT, CASE_CLOSED, INVALID_PAYLOAD, NOT_APPROVER, WRONG_STEP
    from domain.policy import CasePolicy
    from domain.tiers import APPROVERS, TierRole
    from workflows.ladder import DELIVERY_STEPS
    from workflows.state import CaseState

# Who works the case (DESIGN §9): at any open step.
ASSIGNMENT = {Action.CLAIM, Action.ASSIGN, Action.RELEASE}
# Actions allowed at any open step, besides the ones the current step waits for.
ANYTIME = {Action.NOTES, Action.ESCALATION, Action.WITHDRAWAL} | ASSIGNMENT
DISPUTE_STEPS = {Step.DISPUTE_EVIDENCE, Step.DISPUTE}


def check_action(
    action: Action,
    payload: dict[str, Any],
    s: CaseState,
    expecting: set[Action],
    refundable: Money,
    policy: CasePolicy,
) -> Contract:
    """The parsed payload when the case takes `action` now; raises ApplicationError otherwise."""
    try:
        parsed = ACTION_PAYLOADS[action].model_validate(payload)
    except ValidationError as err:
        raise ApplicationError(
            f"invalid {action} payload: {err.errors()[0]['msg']}", type=INVALID_PAYLOAD
        ) from err
    if s.step == Step.CLOSED and action not in expecting:
        raise ApplicationError(f"case is closed ({s.close_reason})", type=CASE_CLOSED)
    if action == Action.ESCALATION and (
        s.step in DISPUTE_STEPS or (s.money_moved and s.step not in DELIVERY_STEPS)
    ):
        # After money moved only an undelivered remedy (replacement, repair, part) can go back.
        raise ApplicationError(
            "the case is already with the dispute team or money has moved; it cannot be escalated",
            type=WRONG_STEP,
        )
    if action == Action.WITHDRAWAL and s.money_moved:
        raise ApplicationError(
            "money has already moved; the case can no longer be withdrawn", type=WRONG_STEP
        )
    if action not in expecting and action not in ANYTIME:
        raise ApplicationError(f"case is at step {s.step}, which does not take {action}", type=WRONG_STEP)
    if isinstance(parsed, CustomerDecision) and (
        parsed.accept_option is not None and parsed.accept_option >= len(s.options)
    ):
        raise ApplicationError(
            f"option {parsed.accept_option} does not exist; {len(s.options)} offered",
            type=INVALID_PAYLOAD,
        )
    if isinstance(parsed, Proposal):
        if any(o.resolution == Resolution.REJECT for o in parsed.options) and len(parsed.options) > 1:
            raise ApplicationError("a rejection must be the only option", type=INVALID_PAYLOAD)
        for index, option in enumerate(parsed.options):
            _check_amounts(option, f"option {index}", refundable, policy)
    if isinstance(parsed, DisputeRuling):
        _check_amounts(parsed.resolution, "ruling", refundable, policy)
    problem = assignment_problem(parsed, s.assigned_to)
    if problem is not None:
        raise ApplicationError(problem, type=ASSIGNMENT_CONFLICT)
    return parsed


def check_approver(action: Action, tier: TierRole | None, actor: str) -> None:
    """A decision in the manager's tier is approved by a manager (or for one, by delegation): a
    supervisor's approval is refused (403 in the API). Actors name their role first (`manager:P-1`)."""
    if action != Action.APPROVAL or tier is None:
        return
    role = actor.split(":", 1)[0]
    if role in APPROVERS and role not in APPROVERS[tier]:
        raise ApplicationError(
            f"this decision is in the {tier} tier of the policy: a {tier} approves it", type=NOT_APPROVER
        )


def assignment_problem(action: Contract, assigned_to: str | None) -> str | None:
    """Why a claim or release cannot be taken now (also checked again when it is taken: two claims
    validated together are taken one after the other, and the second then finds the first)."""
    if isinstance(action, Claim):
        if action.person_id is None:
            return "a claim names the person who claims"
        if assigned_to not in (None, action.person_id):
            return f"the case is assigned to {assigned_to}; a supervisor can reassign it"
    if isinstance(action, Release):
        if assigned_to is None:
            return "the case is not assigned to anyone"
        if not action.as_supervisor and action.person_id != assigned_to:
            return f"the case is assigned to {assigned_to}, not to {action.person_id}"
    return None


def _check_amounts(option: ProposalOption, where: str, refundable: Money, policy: CasePolicy) -> None:
    """Every amount an action carries is bounded before anything happens (422 in the API)."""
    problem = option_problem(option, refundable.currency, refundable, policy)
    if problem is not None:
        raise ApplicationError(f"{where}: {problem}", type=INVALID_PAYLOAD)
