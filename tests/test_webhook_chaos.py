"""Webhooks under faults, small and in-process (bench.webhooks at 4 cases): cases run to the end on
their own stack while the simulator's receiver fails 30 % of arrivals and answers 10 % late, and the
worker is SIGKILLed once 15 webhooks have arrived (an event, never a time). Every event of every
case must then have been accepted at least once, validly signed, in seq order, none sent before its
predecessor was accepted. The bench runs the same with 200 cases (BENCHMARKS.md)."""

from __future__ import annotations

import os

import pytest

from bench.webhooks import parse_args, run


@pytest.mark.slow  # a stack of its own
async def test_every_event_arrives_in_order_despite_a_failing_receiver_and_a_killed_worker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["chaos", "--cases", "4", "--concurrency", "4", "--kill-after", "15", "--patience", "150"]
    if os.environ.get("DATABASE_URL"):
        argv += ["--database-url", os.environ["DATABASE_URL"]]
    passed = await run(parse_args(argv))
    out = capsys.readouterr().out
    assert passed, out
    assert "worker SIGKILLed after" in out and "| 4     | 4      |" in out, out


def test_the_command_line_defaults_to_the_issue_s_figures() -> None:
    args = parse_args(["chaos"])
    assert (args.cases, args.kill_after) == (200, 600)
    assert parse_args(["latency"]).rate == 20
