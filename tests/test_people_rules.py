"""Presence and skills of people (DESIGN §9), as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.people import Presence, has_skill, shown_presence, skill_problem

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)


def test_an_online_agent_who_made_no_request_for_the_away_time_is_shown_away() -> None:
    assert shown_presence(Presence.ONLINE, NOW - timedelta(minutes=4), NOW, FIVE_MINUTES) == Presence.ONLINE
    assert shown_presence(Presence.ONLINE, NOW - FIVE_MINUTES, NOW, FIVE_MINUTES) == Presence.AWAY
    assert shown_presence(Presence.ONLINE, None, NOW, FIVE_MINUTES) == Presence.AWAY


@given(
    st.sampled_from([Presence.AWAY, Presence.OFFLINE]),
    st.one_of(st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))),
)
def test_away_and_offline_are_shown_as_set_however_long_ago(
    presence: Presence, idle: timedelta | None
) -> None:
    seen = None if idle is None else NOW - idle
    assert shown_presence(presence, seen, NOW, FIVE_MINUTES) == presence


def test_skills_name_queues_or_every_queue() -> None:
    assert has_skill(["refunds"], "refunds") and not has_skill(["refunds"], "disputes")
    assert has_skill(["*"], "anything")
    assert skill_problem("refunds") is None and skill_problem("*") is None
    assert skill_problem("Refunds!") is not None and skill_problem("x" * 41) is not None
