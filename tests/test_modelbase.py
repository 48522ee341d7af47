"""Domain models share one set of given field names per content (domain.modelbase), and pydantic's
meaning of "the fields given" (`model_fields_set`, `exclude_unset`) stays what it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.enums import Step
from domain.modelbase import DomainModel
from domain.models import CaseInput, TimelineEntry
from domain.money import Money
from domain.policy import CasePolicy
from domain.sla import SlaClock, start_clock
from tests.support.cases import kettle_request

AT = datetime(2026, 12, 7, 9, tzinfo=UTC)


class Note(DomainModel):
    text: str
    author: str = "system"
    pinned: bool = False


def test_models_given_the_same_fields_share_one_set() -> None:
    first, second = Money(amount=Decimal("1")), Money(amount=Decimal("2"))
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    assert first.model_fields_set == {"amount"}
    other = Money(amount=Decimal("1"), currency="USD")
    assert other.model_fields_set == {"amount", "currency"}
    assert other.__pydantic_fields_set__ is not first.__pydantic_fields_set__


def test_models_decoded_from_json_share_their_sets_too() -> None:
    inp = CaseInput(case_id="C1", request=kettle_request(AT), received_at=AT, policy=CasePolicy())
    one = CaseInput.model_validate_json(inp.model_dump_json())
    two = CaseInput.model_validate_json(inp.model_dump_json())
    assert one.request.order.__pydantic_fields_set__ is two.request.order.__pydantic_fields_set__
    assert one.request.__pydantic_fields_set__ is two.request.__pydantic_fields_set__
    assert one == two == inp


def test_assigning_a_field_not_given_copies_the_set_first_so_others_keep_their_meaning() -> None:
    mine, yours = Note(text="a"), Note(text="b")
    mine.pinned = True
    assert mine.model_fields_set == {"text", "pinned"}
    assert yours.model_fields_set == {"text"}
    assert yours.model_dump(exclude_unset=True) == {"text": "b"}
    assert mine.model_dump(exclude_unset=True) == {"text": "a", "pinned": True}
    assert Note(text="c").model_fields_set == {"text"}, "the shared set was not touched"


def test_assigning_a_field_already_given_keeps_the_shared_set() -> None:
    mine, yours = Note(text="a"), Note(text="b")
    mine.text = "changed"
    assert mine.__pydantic_fields_set__ is yours.__pydantic_fields_set__
    assert mine.text == "changed" and yours.text == "b"


def test_copies_and_frozen_models_keep_pydantic_behaviour() -> None:
    note = Note(text="a")
    copied = note.model_copy(update={"author": "agent-7"})
    assert copied.model_fields_set == {"text", "author"} and note.model_fields_set == {"text"}
    money = Money(amount=Decimal("5"))
    with pytest.raises(ValidationError):
        money.amount = Decimal("6")  # type: ignore[misc]
    assert Money(amount=Decimal("5")).model_fields_set == {"amount"}


def test_a_running_clock_shares_its_set_with_every_other_clock() -> None:
    policy = CasePolicy()
    limit = policy.limit(Step.MERCHANT_VERIFICATION)
    assert limit is not None
    clocks = [
        start_clock(Step.MERCHANT_VERIFICATION, limit, AT + timedelta(hours=h), None, "v1") for h in (0, 1)
    ]
    for clock in clocks:  # a clock sets these as it runs: no copy of the set is made for them
        clock.pause(AT + timedelta(hours=2))
        clock.resume(AT + timedelta(hours=3), None)
        clock.fire("warn", AT + timedelta(hours=4))
        clock.fire("breach", AT + timedelta(hours=5))
    assert clocks[0].__pydantic_fields_set__ is clocks[1].__pydantic_fields_set__
    assert isinstance(clocks[0], SlaClock) and clocks[0].breached_at == AT + timedelta(hours=5)


def test_timeline_entries_and_inputs_still_compare_by_their_fields() -> None:
    entry = TimelineEntry(at=AT, step=Step.SUBMITTED, kind="intake", actor="system", summary="opened")
    assert entry == TimelineEntry.model_validate_json(entry.model_dump_json())
