"""Routing and priority as pure rules (domain.routing, CasePolicy.for_priority): which queue a new
case lands in, what raises its priority and how much shorter its limits get."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.enums import PRIORITIES, Channel, IssueType, Priority, Reason, Step
from domain.models import CaseRequest
from domain.money import Money
from domain.policy import DEFAULT_POLICY, CasePolicy, StepLimit
from domain.routing import CaseFacts, PriorityRules, RoutingRule, RoutingTable, derive_priority, route
from domain.steps import spec_of
from tests.store import factories as f

RULES = PriorityRules()


def cny(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


def kettle(price: str = "129.00", vip: bool = False, **overrides: Any) -> CaseRequest:
    req = f.case_request(prices=(price,), **overrides)
    return req.model_copy(update={"order": req.order.model_copy(update={"vip": vip})})


def facts(req: CaseRequest | None = None, priority: Priority = "normal") -> CaseFacts:
    return CaseFacts.of(req or kettle(), priority)


def rule(**fields: Any) -> RoutingRule:
    return RoutingRule.model_validate({"queue": "q", **fields})


# --- routing ---------------------------------------------------------------------------------


def test_a_case_no_rule_matches_goes_to_the_default_queue() -> None:
    table = [rule(queue="complaints", issue_types=["complaint"])]
    assert route(table, facts(), "general").queue == "general"
    assert route([], facts(), "general").rule is None


def test_the_first_matching_rule_wins() -> None:
    table = [
        rule(queue="hotline", channels=["hotline"]),
        rule(queue="appliances", categories=["appliances"]),
        rule(queue="merchant-100", merchant_ids=["M-100"]),
    ]
    found = route(table, facts(), "general")
    assert (found.queue, found.rule) == ("appliances", 1)


def test_every_field_a_rule_names_must_match() -> None:
    both = rule(queue="quality-app", reasons=["quality_issue"], channels=["hotline"])
    assert not both.matches(facts())  # the reason matches, the channel does not
    assert both.matches(facts(kettle(channel="hotline")))


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        ({"issue_types": ["return_and_refund", "exchange"]}, True),
        ({"issue_types": ["complaint"]}, False),
        ({"reasons": ["quality_issue"]}, True),
        ({"categories": ["digital", "appliances"]}, True),
        ({"categories": ["fresh_food"]}, False),
        ({"merchant_ids": ["M-200"]}, False),
        ({"channels": ["app"]}, True),
        ({"priorities": ["high", "urgent"]}, False),
        ({"min_amount": {"amount": "129.00", "currency": "CNY"}}, True),  # bounds are inclusive
        ({"max_amount": {"amount": "129.00", "currency": "CNY"}}, True),
        ({"min_amount": {"amount": "129.01", "currency": "CNY"}}, False),
        ({"max_amount": {"amount": "100.00", "currency": "CNY"}}, False),
        ({"min_amount": {"amount": "1.00", "currency": "USD"}}, False),  # another currency says nothing
    ],
)
def test_each_field_matches_on_its_own(fields: dict[str, Any], matches: bool) -> None:
    assert rule(**fields).matches(facts()) is matches


def test_rules_see_the_derived_priority() -> None:
    urgent = rule(queue="escalations", priorities=["urgent"])
    assert urgent.matches(facts(priority="urgent")) and not urgent.matches(facts(priority="high"))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"queue": "Has Spaces"}, "queue"),
        ({"queue": "x" * 41}, "queue"),
        ({"queue": "q", "colour": "red"}, "colour"),
        ({"queue": "q", "issue_types": []}, "issue_types"),
        ({"queue": "q", "channels": ["pigeon"]}, "channels"),
        (
            {
                "queue": "q",
                "min_amount": {"amount": "500.00", "currency": "CNY"},
                "max_amount": {"amount": "100.00", "currency": "CNY"},
            },
            "min_amount must not be above max_amount",
        ),
        (
            {
                "queue": "q",
                "min_amount": {"amount": "1.00", "currency": "CNY"},
                "max_amount": {"amount": "9.00", "currency": "USD"},
            },
            "one currency",
        ),
    ],
)
def test_a_rule_that_cannot_be_meant_is_refused(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RoutingRule.model_validate(fields)


def test_a_table_holds_at_most_500_rules() -> None:
    RoutingTable.model_validate({"rules": [{"queue": "q"}] * 500})
    with pytest.raises(ValidationError, match="at most 500"):
        RoutingTable.model_validate({"rules": [{"queue": "q"}] * 501})


RULE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "issue_types": st.lists(st.sampled_from(list(IssueType)), min_size=1, max_size=3),
        "reasons": st.lists(st.sampled_from(list(Reason)), min_size=1, max_size=3),
        "channels": st.lists(st.sampled_from(list(Channel)), min_size=1, max_size=3),
        "merchant_ids": st.lists(st.sampled_from(["M-100", "M-200"]), min_size=1, max_size=2),
        "categories": st.lists(st.sampled_from(["appliances", "digital"]), min_size=1, max_size=2),
        "priorities": st.lists(st.sampled_from(PRIORITIES), min_size=1, max_size=2),
        "min_amount": st.sampled_from([cny("50.00"), cny("129.00"), cny("500.00")]),
    },
)
CASES = st.builds(
    lambda issue, reason, channel, priority: facts(
        kettle(issue_type=issue, reason=reason, channel=channel), priority
    ),
    st.sampled_from(list(IssueType)),
    st.sampled_from(list(Reason)),
    st.sampled_from(list(Channel)),
    st.sampled_from(PRIORITIES),
)


@given(st.lists(RULE_FIELDS, max_size=8), CASES)
def test_the_chosen_queue_is_the_first_match_or_the_default(
    fields: list[dict[str, Any]], case: CaseFacts
) -> None:
    table = [RoutingRule(queue=f"q{i}", **each) for i, each in enumerate(fields)]
    found = route(table, case, "general")
    if found.rule is None:
        assert found.queue == "general" and not any(r.matches(case) for r in table)
    else:
        assert found.queue == table[found.rule].queue and table[found.rule].matches(case)
        assert not any(r.matches(case) for r in table[: found.rule])


# --- priority --------------------------------------------------------------------------------


def test_an_ordinary_case_keeps_the_priority_it_was_given() -> None:
    decision = derive_priority(kettle(), 0, RULES)
    assert (decision.priority, decision.reason) == ("normal", "given by the caller: normal")


@pytest.mark.parametrize(
    ("req", "earlier", "reason"),
    [
        (kettle(issue_type="complaint"), 0, "complaint"),
        (kettle(price="1000.00"), 0, "amount 1000.00 CNY at or above 1000.00 CNY"),
        (kettle(), 1, "repeat claimant: 1 earlier case(s) in 30 days"),
        (kettle(vip=True), 0, "VIP order"),
    ],
)
def test_each_signal_alone_makes_a_case_high_and_says_so(req: CaseRequest, earlier: int, reason: str) -> None:
    decision = derive_priority(req, earlier, RULES)
    assert (decision.priority, decision.reason) == ("high", reason)


def test_two_signals_make_it_urgent_and_the_reason_lists_both() -> None:
    decision = derive_priority(kettle(issue_type="complaint", vip=True), 0, RULES)
    assert decision.priority == "urgent"
    assert decision.reason == "complaint; VIP order"


def test_the_given_priority_is_the_floor() -> None:
    assert derive_priority(kettle(priority="urgent"), 0, RULES).priority == "urgent"
    kept = derive_priority(kettle(priority="urgent", vip=True), 0, RULES)
    assert (kept.priority, kept.reason) == ("urgent", "given by the caller: urgent; VIP order")
    assert derive_priority(kettle(priority="low"), 0, RULES).priority == "low"


def test_thresholds_come_from_the_rules() -> None:
    strict = PriorityRules(high_amount=cny("100.00"), repeat_cases=3, repeat_days=7)
    assert derive_priority(kettle(), 2, strict).reason == "amount 129.00 CNY at or above 100.00 CNY"
    assert "repeat claimant: 3 earlier case(s) in 7 days" in derive_priority(kettle(), 3, strict).reason


@given(
    st.sampled_from(PRIORITIES),
    st.booleans(),
    st.booleans(),
    st.integers(min_value=0, max_value=5),
    st.sampled_from(["10.00", "999.99", "1000.00", "5000.00"]),
)
def test_priority_is_never_below_the_given_one_nor_the_signals(
    given_priority: Priority, complaint: bool, vip: bool, earlier: int, price: str
) -> None:
    req = kettle(
        price=price, vip=vip, priority=given_priority, issue_type="complaint" if complaint else "exchange"
    )
    decision = derive_priority(req, earlier, RULES)
    signals = sum([complaint, vip, earlier >= 1, Decimal(price) >= Decimal("1000.00")])
    floor = {0: "low", 1: "high"}.get(signals, "urgent")
    rank = PRIORITIES.index
    assert rank(decision.priority) == max(rank(given_priority), rank(floor))


# --- shorter limits --------------------------------------------------------------------------


def test_an_urgent_case_gets_half_the_platform_and_merchant_limits() -> None:
    urgent = DEFAULT_POLICY.for_priority("urgent")
    assert urgent.priority == "urgent"
    assert urgent.limits[Step.MERCHANT_VERIFICATION].hours == Decimal("12")
    assert urgent.limits[Step.LIABILITY_AND_PROPOSAL].describe() == "4 working h"
    assert urgent.limits[Step.AWAITING_APPROVAL].hours == Decimal("2")
    assert urgent.platform_limit.hours == Decimal("60")


def test_high_is_three_quarters_in_exact_decimals() -> None:
    high = DEFAULT_POLICY.for_priority("high")
    assert high.limits[Step.MERCHANT_VERIFICATION].hours == Decimal("18")
    assert high.limits[Step.LIABILITY_AND_PROPOSAL].hours == Decimal("6")
    assert high.limits[Step.AWAITING_APPROVAL].describe() == "3 working h"


def test_customer_carrier_and_evidence_limits_are_never_shortened() -> None:
    urgent = DEFAULT_POLICY.for_priority("urgent")
    for step, limit in DEFAULT_POLICY.limits.items():
        if not spec_of(step).breaches:
            assert urgent.limits[step] == limit, step


def test_normal_and_low_keep_the_policy_and_factors_apply_once() -> None:
    assert DEFAULT_POLICY.for_priority("normal").limits == DEFAULT_POLICY.limits
    assert DEFAULT_POLICY.for_priority("low").limits == DEFAULT_POLICY.limits
    urgent = DEFAULT_POLICY.for_priority("urgent")
    assert urgent.for_priority("urgent") is urgent


def test_no_limit_is_shortened_below_the_minimum() -> None:
    tight = CasePolicy(
        limits={Step.AWAITING_APPROVAL: StepLimit(hours=Decimal("1.5"), who_acts="supervisor")},
        priority_min_hours=Decimal("1"),
    )
    assert tight.for_priority("urgent").limits[Step.AWAITING_APPROVAL].hours == Decimal("1")
    short = CasePolicy(
        limits={Step.AWAITING_APPROVAL: StepLimit(hours=Decimal("0.5"), who_acts="supervisor")}
    )
    assert short.for_priority("urgent").limits[Step.AWAITING_APPROVAL].hours == Decimal("0.5")


def test_a_factor_outside_0_to_1_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"priority_factors\.urgent"):
        CasePolicy(priority_factors={"low": 1, "normal": 1, "high": 1, "urgent": 2})
