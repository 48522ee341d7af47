"""The conversation's rules (DESIGN §9): threads and readers, and the first-response clock of a
customer message on the service-desk calendar (09:00-23:00 every day, seed 003)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar_source import SERVICE_DESK, build_snapshot
from domain.conversation import (
    Party,
    Visibility,
    first_response,
    party_of,
    reader_sees,
    reply_facts,
    visibility_problem,
)
from domain.enums import Actor

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESK = build_snapshot(SERVICE_DESK, date(2026, 11, 1), date(2027, 1, 31))
FIFTEEN = timedelta(minutes=15)


def at(day: int, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def test_a_message_at_22_59_is_due_at_09_14_because_the_desk_night_does_not_count() -> None:
    facts = reply_facts(DESK, at(2, "22:59"), FIFTEEN)
    assert facts.due_at == at(3, "09:14")
    assert first_response(DESK, at(2, "22:59"), at(3, "09:10")) == timedelta(minutes=11)  # within 15


def test_a_message_at_14_00_answered_at_14_20_took_20_minutes_5_over_the_limit() -> None:
    facts = reply_facts(DESK, at(2, "14:00"), FIFTEEN)
    assert facts.due_at == at(2, "14:15") and not facts.night and facts.counts_on == date(2026, 12, 2)
    assert first_response(DESK, at(2, "14:00"), at(2, "14:20")) - FIFTEEN == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("received", "counts_on", "night_due"),
    [
        (at(2, "18:00"), date(2026, 12, 3), at(3, "12:00")),  # after 18:00: the next day's figures
        (at(2, "22:59"), date(2026, 12, 3), at(3, "12:00")),
        (at(3, "02:00"), date(2026, 12, 3), at(3, "12:00")),  # in the night: that morning
        (at(3, "08:59"), date(2026, 12, 3), at(3, "12:00")),
    ],
)
def test_a_night_message_counts_to_the_next_working_day_and_is_due_solved_by_its_noon(
    received: datetime, counts_on: date, night_due: datetime
) -> None:
    facts = reply_facts(DESK, received, FIFTEEN)
    assert (facts.night, facts.counts_on, facts.night_due_at) == (True, counts_on, night_due)


@given(st.integers(min_value=0, max_value=60 * 24 * 20), st.integers(min_value=1, max_value=600))
def test_the_reply_is_due_exactly_when_the_limit_of_desk_time_has_passed(
    minute: int, limit_minutes: int
) -> None:
    received = at(1, "00:00") + timedelta(minutes=minute)
    limit = timedelta(minutes=limit_minutes)
    due = reply_facts(DESK, received, limit).due_at
    assert first_response(DESK, received, due) == limit


def test_threads_and_readers() -> None:
    assert party_of(Actor.SYSTEM) == Party.CUSTOMER and party_of(Actor.AGENT) == Party.PLATFORM
    assert visibility_problem(Party.CUSTOMER, Visibility.INTERNAL) is not None
    assert visibility_problem(Party.MERCHANT, Visibility.CUSTOMER) is not None
    assert all(visibility_problem(Party.PLATFORM, v) is None for v in Visibility)
    assert not reader_sees(Actor.MERCHANT, Visibility.INTERNAL) and not reader_sees(
        Actor.SYSTEM, Visibility.INTERNAL
    )
    assert not reader_sees(Actor.MERCHANT, Visibility.CUSTOMER) and not reader_sees(
        Actor.SYSTEM, Visibility.MERCHANT
    )
    assert reader_sees(Actor.AGENT, Visibility.INTERNAL) and reader_sees(Actor.OPS, Visibility.MERCHANT)


def test_the_desk_calendar_the_clock_names_is_the_service_desk_calendar() -> None:
    from domain.conversation import DESK_CALENDAR

    assert DESK_CALENDAR == SERVICE_DESK
