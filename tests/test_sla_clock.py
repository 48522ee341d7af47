"""SLA clocks: pause and resume keep the time used, the due time follows the calendar, a breach is
recorded once with how late, and calendar-hour clocks count real time across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import calendar as cal
from domain.calendar_source import BUSINESS, build_snapshot
from domain.enums import Step
from domain.policy import StepLimit
from domain.sla import explain, start_clock

BUSINESS_2026 = build_snapshot(BUSINESS, date(2026, 1, 1), date(2027, 3, 31))
SHANGHAI = cal.zone("Asia/Shanghai")
BERLIN = cal.zone("Europe/Berlin")
MERCHANT = StepLimit(hours=Decimal("24"), basis="working", on_breach="auto_accept", who_acts="merchant")
CUSTOMER = StepLimit(hours=Decimal("72"), basis="calendar", on_breach="auto_close", who_acts="customer")


def local(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def test_a_working_hour_clock_started_after_hours_counts_from_the_next_working_moment() -> None:
    clock = start_clock(Step.MERCHANT_VERIFICATION, MERCHANT, local(2026, 11, 20, 19), BUSINESS_2026, "p1")
    assert clock.running_since == local(2026, 11, 23, 9)  # Friday evening → Monday 09:00
    assert clock.due_at == local(2026, 11, 25, 15)  # 9 + 9 + 6 working hours


def test_pausing_keeps_the_time_used_and_moves_the_due_time_by_the_pause() -> None:
    clock = start_clock(Step.MERCHANT_VERIFICATION, MERCHANT, local(2026, 11, 23, 9), BUSINESS_2026, "p1")
    clock.pause(local(2026, 11, 23, 13))  # 4 working hours used
    assert clock.due_at is None and clock.next_rung(BUSINESS_2026) is None
    clock.resume(local(2026, 11, 30, 9), BUSINESS_2026)  # a week frozen
    assert clock.used(BUSINESS_2026, local(2026, 11, 30, 9)) == timedelta(hours=4)
    assert clock.due_at == local(2026, 12, 2, 11)  # 20 working hours left: 9 + 9 + 2
    view = explain(clock, BUSINESS_2026, local(2026, 11, 30, 10))
    assert view.used == timedelta(hours=5) and view.remaining == timedelta(hours=19)
    assert [(p.start, p.end) for p in view.paused] == [(local(2026, 11, 23, 13), local(2026, 11, 30, 9))]


def test_a_breach_is_recorded_once_with_how_late() -> None:
    clock = start_clock(Step.MERCHANT_VERIFICATION, MERCHANT, local(2026, 11, 23, 9), BUSINESS_2026, "p1")
    due = clock.due_at
    assert due is not None
    clock.fire("breach", due)
    clock.fire("breach", due + timedelta(hours=5))
    assert clock.breached_at == due and clock.fired == ["breach"]
    view = explain(clock, BUSINESS_2026, due + timedelta(hours=3))
    assert view.late_by == timedelta(hours=3) and view.remaining == timedelta(0)


def test_the_ladder_warns_at_75_breaches_at_100_and_escalates_at_125_percent() -> None:
    clock = start_clock(Step.AWAITING_CUSTOMER_DECISION, CUSTOMER, local(2026, 11, 23, 9), None, "p1")
    rungs = []
    while (rung := clock.next_rung(None)) is not None:
        rungs.append((rung[0], rung[1] - local(2026, 11, 23, 9)))
        clock.fire(*rung)
    assert rungs == [
        ("warn", timedelta(hours=54)),
        ("breach", timedelta(hours=72)),
        ("escalate", timedelta(hours=90)),
    ]


def test_a_calendar_hour_clock_counts_real_hours_across_a_dst_change() -> None:
    start = datetime(2026, 10, 24, 12, tzinfo=BERLIN)  # CEST; clocks go back on the 25th
    clock = start_clock(Step.AWAITING_CUSTOMER_DECISION, CUSTOMER, start, None, "p1")
    assert clock.due_at == start.astimezone(UTC) + timedelta(hours=72)
    assert (
        clock.due_at is not None and clock.due_at.astimezone(BERLIN).hour == 11
    )  # wall clock: one hour less
    assert clock.used(None, datetime(2026, 10, 25, 12, tzinfo=BERLIN)) == timedelta(hours=25)


def test_a_time_scale_divides_the_budget() -> None:
    clock = start_clock(Step.AWAITING_CUSTOMER_DECISION, CUSTOMER, local(2026, 11, 23, 9), None, "p1", 3600)
    assert clock.budget == timedelta(seconds=72) and clock.due_at == local(2026, 11, 23, 9, 1, 12)


minutes = st.integers(1, 30 * 24 * 60).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 300 * 24 * 60).map(
        lambda m: datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=m)
    ),
    pauses=st.lists(st.tuples(minutes, minutes), max_size=4),
)
def test_pauses_never_change_the_working_time_a_clock_has_used(
    start: datetime, pauses: list[tuple[timedelta, timedelta]]
) -> None:
    """Used time = the working time of the running intervals only, however often it was paused."""
    clock = start_clock(Step.MERCHANT_VERIFICATION, MERCHANT, start, BUSINESS_2026, "p1")
    now = start
    running: list[tuple[datetime, datetime]] = []
    begun = clock.running_since
    for run, pause in pauses:
        assert begun is not None
        now = max(now, begun) + run
        clock.pause(now)
        running.append((begun, now))
        now += pause
        clock.resume(now, BUSINESS_2026)
        begun = now
    end = now + timedelta(hours=1)
    assert begun is not None
    running.append((begun, end))
    expected = sum((cal.working_time_between(BUSINESS_2026, a, b) for a, b in running), timedelta(0))
    assert clock.used(BUSINESS_2026, end) == expected
    if clock.due_at is not None and expected < clock.budget:
        # What is left is exactly the working time from now to the due time.
        assert cal.working_time_between(BUSINESS_2026, end, clock.due_at) == clock.budget - expected


def test_an_explanation_stored_before_the_platform_clock_existed_still_reads() -> None:
    from domain.sla import ClockExplanation

    clock = start_clock(Step.MERCHANT_VERIFICATION, MERCHANT, local(2026, 11, 23, 9), BUSINESS_2026, "p1")
    stored = explain(clock, BUSINESS_2026, local(2026, 11, 23, 10)).model_dump(mode="json")
    del stored["clock"]
    assert ClockExplanation.model_validate(stored).clock == "merchant_verification"
