"""The case page's forms: which actions each role is offered at each step (never one the API would
refuse it by role), and how a submitted form becomes the API's body."""

from __future__ import annotations

from api.auth import ACTION_ROLES
from api.console.forms import actions_for, body_of
from domain.enums import Action, Actor, Step


def test_each_role_is_offered_the_actions_the_api_lets_it_take_at_the_step() -> None:
    assert actions_for(Step.AWAITING_APPROVAL, Actor.SUPERVISOR)[0] == Action.APPROVAL
    assert Action.APPROVAL not in actions_for(Step.AWAITING_APPROVAL, Actor.AGENT)
    assert actions_for(Step.AWAITING_APPROVAL, Actor.MANAGER)[0] == Action.APPROVAL
    # An agent approves only while holding an away approver's delegation (the API checks it again).
    assert actions_for(Step.AWAITING_APPROVAL, Actor.AGENT, delegate=True)[0] == Action.APPROVAL
    assert actions_for(Step.MERCHANT_VERIFICATION, Actor.MERCHANT)[0] == Action.MERCHANT_RESPONSE
    assert actions_for(Step.AWAITING_APPROVAL, Actor.OPS) == []
    assert actions_for(Step.CLOSED, Actor.AGENT) == [Action.APPEAL]
    assert actions_for(Step.CLOSED, Actor.MERCHANT) == []
    for step in Step:
        for role in Actor:
            assert all(role in ACTION_ROLES[a] for a in actions_for(step, role)), (step, role)


def test_a_form_becomes_the_api_body() -> None:
    form = {"liability": "merchant", "resolution": "refund_only", "refund": "129.00", "compensation": ""}
    assert body_of(Action.PROPOSAL, form) == {
        "liability": "merchant",
        "options": [{"resolution": "refund_only", "refund": {"amount": "129.00", "currency": "CNY"}}],
    }
    assert body_of(Action.APPROVAL, {"decision": "reject", "comment": "too much"}) == {
        "decision": "reject",
        "comment": "too much",
    }
    assert body_of(Action.MERCHANT_RESPONSE, {"accepts_claim": "false"}) == {"accepts_claim": False}
