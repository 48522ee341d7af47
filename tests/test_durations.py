"""Every duration the API writes is one that OpenAPI's `format: duration` (RFC 3339) accepts.

Pydantic's own `P1DT20H4S` is not (hours then seconds with no minutes between), and the schema
fuzzer found it in a clock's explanation. These tests hold the class, not the one example."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from domain.durations import Duration, rfc3339_duration
from domain.sla import ClockExplanation

# RFC 3339 Appendix A, without weeks (never written) and without years/months (never exact).
RFC3339_DURATION = re.compile(
    r"P(\d+D(T\d+H(\d+M(\d+S)?)?|T\d+M(\d+S)?|T\d+S)?|T\d+H(\d+M(\d+S)?)?|T\d+M(\d+S)?|T\d+S)"
)
FORMAT_CHECK = jsonschema_rs.validator_for({"type": "string", "format": "duration"}, validate_formats=True)
ADAPTER: TypeAdapter[timedelta] = TypeAdapter(Duration)

spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3_650))


@example(timedelta(days=1, hours=3))  # whole hours past whole days: once written as P1D
@given(spans)
def test_every_duration_is_written_in_the_rfc3339_grammar_and_reads_back_to_the_whole_second(
    span: timedelta,
) -> None:
    written = ADAPTER.dump_python(span, mode="json")
    assert RFC3339_DURATION.fullmatch(written), written
    assert FORMAT_CHECK.is_valid(written), written
    assert ADAPTER.validate_python(written) == timedelta(seconds=int(span.total_seconds()))


@pytest.mark.parametrize(
    ("span", "written"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(days=1, hours=20, seconds=4), "P1DT20H0M4S"),
        (timedelta(days=3), "P3D"),
        (timedelta(days=1, hours=3), "P1DT3H0M0S"),
        (timedelta(days=2, minutes=1), "P2DT1M0S"),
        (timedelta(hours=1, seconds=4), "PT1H0M4S"),
        (timedelta(minutes=5), "PT5M0S"),
        (timedelta(seconds=1.5), "PT1S"),
    ],
)
def test_known_spans_are_written_plainly(span: timedelta, written: str) -> None:
    assert rfc3339_duration(span) == written


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="never negative"):
        rfc3339_duration(timedelta(seconds=-1))


def test_a_clock_explanation_in_json_passes_its_own_schema() -> None:
    now = datetime(2026, 10, 9, 10, tzinfo=UTC)
    explanation = ClockExplanation(
        clock="platform", step="merchant_verification", limit="24 working hours", basis="working",
        calendar="business", calendar_version=None, policy_version="v1", started_at=now,
        used=timedelta(hours=20, seconds=4), remaining=timedelta(days=1, hours=20, seconds=4),
        paused=[], frozen_since=None, due_at=now + timedelta(days=2),
        due_in_calendar_time=timedelta(days=1, hours=20, seconds=4), breached_at=None,
        late_by=None, rungs_fired=[],
    )  # fmt: skip
    schema = ClockExplanation.model_json_schema(mode="serialization")
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    validator.validate(explanation.model_dump(mode="json"))
    assert ClockExplanation.model_validate_json(explanation.model_dump_json()) == explanation
