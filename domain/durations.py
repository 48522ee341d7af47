"""Durations in JSON as RFC 3339 (Appendix A) durations, which OpenAPI's `format: duration` means.

Pydantic writes ISO 8601 durations that RFC 3339's grammar refuses: `P1DT20H4S` skips the minutes
between hours and seconds, and fractions of a second have no place in it. `Duration` writes every
unit from the first non-zero one down to the seconds (`P1DT20H0M4S`), whole seconds only, and
reads anything pydantic reads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def rfc3339_duration(span: timedelta) -> str:
    """`span` as an RFC 3339 duration, in whole seconds (truncated); a negative span is refused."""
    seconds = int(span.total_seconds())
    if seconds < 0:
        raise ValueError(f"a duration is never negative: {span}")
    days, of_day = divmod(seconds, 86_400)
    if days and not of_day:
        return f"P{days}D"
    hours, of_hour = divmod(of_day, 3_600)
    minutes, secs = divmod(of_hour, 60)
    time = f"T{hours}H{minutes}M{secs}S" if hours else f"T{minutes}M{secs}S" if minutes else f"T{secs}S"
    return f"P{days}D{time}" if days else f"P{time}"


Duration = Annotated[
    timedelta,
    PlainSerializer(rfc3339_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "duration"}, mode="serialization"),
]
