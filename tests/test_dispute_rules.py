"""Auto-judgment of a dispute whose evidence deadline passed: the table of who wins what."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.dispute import auto_judgment
from domain.enums import Liability, Resolution
from domain.models import ProposalOption
from domain.money import Money
from tests.support.cases import kettle_request

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
REST = Money(amount=Decimal("129.00"), currency="CNY")


@pytest.mark.parametrize("parties", [set(), {"customer", "merchant"}])
def test_people_decide_when_both_or_neither_party_gave_evidence(parties: set[str]) -> None:
    assert auto_judgment(parties, kettle_request(NOW), [], REST) is None


def test_a_customer_without_evidence_loses_and_the_claim_is_rejected() -> None:
    judgment = auto_judgment({"merchant"}, kettle_request(NOW), [], REST)
    assert judgment is not None
    assert judgment.option.resolution == Resolution.REJECT and judgment.liability == Liability.CUSTOMER
    assert judgment.reason_code == "dispute_customer_missed_evidence_deadline"


def test_a_merchant_without_evidence_loses_and_the_claim_is_granted_at_the_refundable_rest() -> None:
    judgment = auto_judgment({"customer"}, kettle_request(NOW, issue_type="refund_only"), [], REST)
    assert judgment is not None and judgment.liability == Liability.MERCHANT
    assert judgment.option.resolution == Resolution.REFUND_ONLY and judgment.option.refund == REST


def test_an_offered_option_that_grants_the_claim_is_preferred() -> None:
    offered = [
        ProposalOption(
            resolution=Resolution.PARTIAL_REFUND, refund=Money(amount=Decimal("30"), currency="CNY")
        ),
        ProposalOption(resolution=Resolution.EXCHANGE, note="new kettle"),
    ]
    judgment = auto_judgment({"customer"}, kettle_request(NOW, issue_type="exchange"), offered, REST)
    assert judgment is not None and judgment.option == offered[1]


@pytest.mark.parametrize("issue_type", ["complaint", "compensation"])
def test_claims_a_person_must_size_go_to_the_team_even_when_the_merchant_is_silent(issue_type: str) -> None:
    assert auto_judgment({"customer"}, kettle_request(NOW, issue_type=issue_type), [], REST) is None


def test_nothing_left_to_refund_goes_to_the_team() -> None:
    request = kettle_request(NOW, issue_type="refund_only")
    assert auto_judgment({"customer"}, request, [], Money.zero("CNY")) is None
