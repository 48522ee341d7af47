"""Chaos scenarios at a small size, in-process: each starts its own isolated stack (bench.stack), drives a
few return-and-refund cases while a part fails, and checks closed cases, one refund each, audit chains.

No fault waits for a clock (audit item 18): each is injected when the three cases walked to resolved
all wait at its step (read from the case store), which holds them there until it is in place; a
stopped part comes back only once a case has acted against it. So the chaos cannot miss the cases
(they cannot finish first) and cannot depend on how fast the machine is; each test checks that the
faults happened and hit the cases in flight.

With DATABASE_URL set the first three use a scratch database next to it; postgres-restart always runs
its own private cluster (skipped only when initdb is missing).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from bench.chaos import (
    GATE_STEPS,
    SCENARIOS,
    STORM,
    Chaos,
    Outcome,
    parse_args,
    report,
    run_scenario,
    storm_waves,
    withdraws,
)

# Small: 4 cases in flight (3 resolved, 1 withdrawn), two worker kills, parts down only until a case
# acted against them.
PLAN = Chaos(kills=2, down=0.0)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.slow  # a stack of its own per scenario
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
    # Every fault happened, with the three resolving cases waiting at its step, and they came through.
    assert len(outcome.faults) == outcome.faults_planned == (2 if scenario == "worker-kill" else 1), out
    assert all(fault.waiting == 3 for fault in outcome.faults), out
    assert outcome.hit >= 3 and outcome.hit_closed_ok == outcome.hit, out
    if scenario == "provider-faults":
        # From awaiting_inspection on, 12 provider calls (a refund and 3 notifications per case); the
        # die seeded 11 fails the 6th: the cases hit must show retries (a local activity's attempts,
        # a durable activity's, or the outbox relay's for a notification).
        assert outcome.hit_retries > 0, out
    else:
        assert all(fault.acted_during_outage for fault in outcome.faults), out  # a case met the outage
    assert f"| {scenario}" in out and "| pass" in out


def test_a_plan_that_cannot_happen_is_refused_before_any_stack_starts() -> None:
    with pytest.raises(ValueError, match="at-step"):
        Chaos(at_step="merchant_verification").steps("server-restart")
    with pytest.raises(ValueError, match="kills"):
        Chaos(kills=len(GATE_STEPS) + 1).steps("worker-kill")
    assert Chaos(kills=2).steps("worker-kill") == list(GATE_STEPS[:2])
    assert Chaos().steps("postgres-restart") == ["awaiting_inspection"]


def test_the_command_line_names_events_not_seconds() -> None:
    args = parse_args(
        ["--scenario", "worker-kill", "--at-step", "awaiting_return_shipment", "--waiting", "5"]
    )
    assert (args.at_step, args.waiting, args.kills) == ("awaiting_return_shipment", 5, 5)
    with pytest.raises(SystemExit):
        parse_args(["--after", "3"])


def test_the_storm_holds_one_wave_of_resolving_cases_per_restart() -> None:
    assert STORM not in SCENARIOS  # `--scenario all` runs the four isolated ones; the storm runs alone
    assert Chaos().steps(STORM) == ["return_in_transit", "awaiting_inspection"]
    server_wave, postgres_wave = storm_waves(100, 25).values()
    assert len(server_wave) == len(postgres_wave) == 25 and not server_wave & postgres_wave
    assert (min(server_wave), min(postgres_wave)) == (33, 66)  # from a third and two thirds of the run
    assert not any(withdraws(i) for i in server_wave | postgres_wave)
    with pytest.raises(ValueError, match="too few"):
        storm_waves(1, 5)
    args = parse_args(["--scenario", STORM, "--kill-every", "5"])
    assert (args.cases, args.concurrency, args.kill_every) == (None, None, 5.0)  # None: storm's 1000, 50


def test_unknown_scenario() -> None:
    with pytest.raises(ValueError):
        asyncio.run(run_scenario("no-such", 1))
