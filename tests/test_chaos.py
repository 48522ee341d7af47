"""Chaos scenarios at a small size, in-process: each starts its own isolated stack (bench.stack), drives a
few return-and-refund cases while a part fails, and checks closed cases, one refund each, audit chains.

With DATABASE_URL set the first three use a scratch database next to it; postgres-restart always runs
its own private cluster (skipped only when initdb is missing).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from bench.chaos import SCENARIOS, Chaos, Outcome, report, run_scenario

# Small and quick: 4 cases in flight, faults 2 s into the run, two worker kills.
PLAN = Chaos(after=2.0, every=3.0, kills=2, down=2.0)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_chaos_scenario(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    outcome: Outcome = await run_scenario(
        scenario,
        4,
        seed=11,
        database_url=os.environ.get("DATABASE_URL"),
        concurrency=4,
        plan=PLAN,
        patience=120,
    )
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    report([outcome])
    out = capsys.readouterr().out
    assert outcome.passed, out
    assert outcome.cases == outcome.closed_ok == 4 and outcome.withdrawn == 1, out
    assert outcome.refunds_ok == 3, out  # one refund each for the three resolved, none for the withdrawn
    assert outcome.double_refunds == 0 and outcome.chain_problems == 0, out
    assert "never happened" not in outcome.notes[0], out  # the fault hit while cases were in flight
    if scenario == "provider-faults":
        assert outcome.retries > 0, out  # 30 % faulty provider calls must show as activity retries
    assert f"| {scenario}" in out and "| pass" in out


def test_unknown_scenario() -> None:
    with pytest.raises(ValueError):
        asyncio.run(run_scenario("no-such", 1))
