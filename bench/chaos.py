"""Chaos: return-and-refund cases through the API while a part of the stack fails, then the invariants.

    .venv/bin/python -m bench.chaos [--scenario worker-kill|server-restart|provider-faults|
                                      postgres-restart|all|storm] [--cases 20] [--seed 7] [--database-url URL]
                                     [--at-step STEP] [--waiting N] [--kills 5] [--down 3]
                                     [--concurrency 10] [--kill-every 10]

Each scenario runs in its own isolated stack (bench.stack: temp dir, free ports) and drives N cases as
the README's "Walk a case to resolved" does, retrying what a real client would retry (5xx, 409 while
the case catches up, dropped connections) with the same Idempotency-Key. Every fault is triggered by
an event, never by a clock: when N cases of the run wait at a step (read from the case store; N is
every case that can wait there at once unless --waiting says otherwise), which the driver holds them
at until the fault is in place, so the fault always hits cases in flight and they cannot finish first:

- worker-kill: the case worker is SIGKILLed with the cases waiting at --at-step (default
  liability_and_proposal), the cases act with no worker, and it is re-spawned once one has; then
  again at each of the next steps, --kills times in all;
- server-restart: the Temporal dev server gets SIGTERM with the cases waiting at --at-step (default
  awaiting_inspection: the refund follows), the cases act against the stopped server, and it is started
  again on the same --db-filename once one has (and --down seconds passed); worker and API must
  reconnect on their own (the output says if one had to be restarted);
- provider-faults: with the cases waiting at --at-step (default awaiting_inspection), the simulator
  starts answering 15 % of provider calls 503 and 15 % too late (done, answered after the provider
  client's timeout), from a seeded die; the refunds and notifications that follow meet them;
- postgres-restart: the case store is a private PostgreSQL (initdb in the temp dir, free port; never the
  shared cluster), stopped with the cases waiting at --at-step (default awaiting_inspection) and started
  again once a case has acted against it (and --down seconds passed).

- storm (not part of `all`; default 1,000 cases, 50 in flight): all of the above in one run, on a
  private PostgreSQL. The simulator's faults (30 %: 15 % 503, 15 % late) are on from the first case
  to the last; the worker is SIGKILLed every --kill-every (10) seconds and re-spawned 1 s later (the
  one fault on a clock, by design: a worker crashing at random); the dev server restarts once, when a
  wave of cases (--waiting, default concurrency // 2, resolving cases from a third of the run on)
  all wait at return_in_transit, and PostgreSQL restarts once, when a second wave (from two thirds
  on) all wait at awaiting_inspection. Only the waves are held; the other cases go on past those
  steps, so every fault also meets cases at other steps. Time scale 60 (limits 6 times longer than the
  others': a case can wait minutes at a step under the storm), outbox lease 30 s (kills leave claimed
  messages behind). Progress (cases done, kills, restarts) every 10 s. Besides the checks below, it
  checks refunded <= paid on every order line (the store's books, and the ledger's refunds per order)
  and that the store's outbox has no message pending or dead at the end (after the relays had time
  to deliver), and prints a table of its checks.

Every fourth customer withdraws the case while the merchant looks at it. Then, per scenario: every case
closed in the store (`resolved` with the paid amount refunded, or `withdrawn` with nothing refunded); the
simulator's ledger holds exactly one refund per resolved case and none for withdrawn ones or anything
else; each case's audit chain verifies (hashes, seq 1..n without gaps or duplicates); no case workflow
without a case row; and the retries the chaos caused, counted in the workflow histories (activity
attempts > 1, failed or timed-out activities), in all and in the cases each fault hit. Exits 1 if a
check fails, and if a fault never happened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import itertools
import json
import math
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.cases import STEPS, case_body
from bench.report import Progress, show
from bench.stack import BenchStack, free_port
from core.settings import get_settings
from core.temporal import connect
from devstack.__main__ import http_ok, port_open, wait_until

SCENARIOS = ("worker-kill", "server-restart", "provider-faults", "postgres-restart")  # `--scenario all`
STORM = "storm"  # all the faults in one run; long, so not part of `all`
PAID = Decimal("129.00")  # the bench case's order total, refunded in full
RETRYABLE = {409, 500, 502, 503, 504}  # what a client retries with the same Idempotency-Key
# Limits are divided by this; 3600 (bench.throughput) would make merchant verification 24 s, which a
# 30 s activity timeout after a kill can outlast and auto-accept the claim: a different path, not a bug.
DEFAULT_TIME_SCALE = 360
SUPERVISED = ("worker", "api", "simulator")
WITHDRAW_EVERY = 4
# The steps a resolving case can be held at for a fault: its human steps after the merchant's
# (withdrawals happen at merchant_verification, before any of them).
GATE_STEPS = tuple(at for _, _, _, at in STEPS[1:])
DEFAULT_AT_STEP = {"worker-kill": GATE_STEPS[0]}  # others: the step before the refund
LATE_STEP = "awaiting_inspection"
# storm: the restart each wave of cases is held for, at which step (distinct steps: one gate each).
STORM_RESTARTS = {"return_in_transit": "server-restart", LATE_STEP: "postgres-restart"}
# storm: limits 6 times longer than the other scenarios' (an 8-working-hour limit becomes 8 minutes):
# under the storm a case can sit at a step for minutes without any limit running out.
STORM_TIME_SCALE = 60
WORKER_DOWN = 1.0  # storm: seconds between a worker's SIGKILL and its re-spawn
OUTBOX_LEASE = 30.0  # a killed relay's claimed messages are due again this soon (default 120 s)


@dataclass
class Fault:
    """One fault, injected on an event: the cases waiting at `step` when it was."""

    what: str
    step: str
    waiting: int  # cases of the run waiting at `step`
    open_cases: list[str]  # cases of the run not closed at that moment: the ones it hit
    acted_during_outage: str | None = None  # the first call a case made while the part was down


@dataclass
class Outcome:
    scenario: str
    cases: int = 0
    closed_ok: int = 0
    refunds_ok: int = 0
    withdrawn: int = 0  # of the cases: closed by the customer before any money moved
    double_refunds: int = 0
    retries: int = 0
    chain_problems: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    faults_planned: int = 0
    faults: list[Fault] = field(default_factory=list)
    hit: int = 0  # cases open in the store when a fault was injected: the ones the faults hit
    hit_closed_ok: int = 0  # of those, closed as expected afterwards
    hit_retries: int = 0  # activity retries in the histories of the cases a fault hit
    kills: int = 0  # storm: periodic worker SIGKILLs (not in `faults`)
    outbox: Counter[str] = field(default_factory=Counter)  # messages by status once it drained
    pending_starts: int = 0  # stored cases whose workflow's first store write never happened
    checks: list[tuple[str, str, bool]] = field(default_factory=list)  # storm: (check, figures, ok)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.skipped is not None or (
            not self.failures
            and self.closed_ok == self.cases > 0
            and self.refunds_ok == self.cases - self.withdrawn
            and self.double_refunds == 0
            and self.chain_problems == 0
            and len(self.faults) == self.faults_planned > 0
            and self.hit_closed_ok == self.hit > 0
            and all(ok for _, _, ok in self.checks)
        )

    def row(self) -> list[object]:
        if self.skipped:
            return [self.scenario, "-", "-", "-", "-", "-", "-", "-", "-", self.skipped]
        return [
            self.scenario,
            self.cases,
            f"{len(self.faults)}/{self.faults_planned}"
            + (f" + {self.kills} worker SIGKILLs" if self.kills else "")
            + f", {self.hit_closed_ok}/{self.hit} cases hit closed ok",
            f"{self.closed_ok}/{self.cases}",
            f"{self.refunds_ok}/{self.cases - self.withdrawn}",
            self.double_refunds,
            self.retries,
            "ok" if not self.chain_problems else f"{self.chain_problems} problem(s)",
            f"{self.seconds:.0f}",
            "pass" if self.passed else "FAIL",
        ]


HEADER = [
    "scenario",
    "cases",
    "faults injected, cases in flight they hit",
    "closed as expected",
    "one refund per refunded case",
    "double refunds",
    "retries seen",
    "audit chain",
    "seconds",
    "result",
]


# ------------------------------------------------------------------ driving cases


class ChaosDriver:
    """Walks cases to resolved like a shop front that retries: same keys, same body, bounded patience.

    At a step with a gate it holds the case (does not act) until the chaos opens the gate: that is
    how a fault is sure to find cases in flight. With `waves` (storm) a gate holds only the cases of
    its step's wave (by index), and the other cases go on past it."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        keys: dict[str, str],
        tag: str,
        patience: float,
        gates: dict[str, asyncio.Event] | None = None,
        waves: dict[str, frozenset[int]] | None = None,
    ) -> None:
        self.http, self.keys, self.tag, self.patience = http, keys, tag, patience
        self.gates = gates or {}
        self.waves = waves or {}
        self.acted = asyncio.Event()  # set by every POST: a case acting (during an outage, say)
        self.first_act = ""  # what the last POST after `acted` was cleared was
        self.retries: Counter[str] = Counter()
        self.case_ids: list[str] = []
        self.index_of: dict[str, int] = {}  # case id -> the index of the case in the run
        self.withdrawn: set[str] = set()  # cases the customer withdraws: they must close with no refund

    async def call(
        self, method: str, path: str, role: str, body: Any = None, idem: str | None = None
    ) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if idem:
            headers["Idempotency-Key"] = idem
        if method == "POST" and not self.acted.is_set():
            self.first_act = f"POST {path}"
            self.acted.set()
        try:
            return await self.http.request(method, path, json=body, headers=headers)
        except httpx.TransportError:  # API busy or restarting: retried like a 503
            return None

    async def until_ok(self, what: str, method: str, path: str, role: str, body: Any, idem: str) -> Any:
        deadline = time.monotonic() + self.patience
        while True:
            answer = await self.call(method, path, role, body, idem)
            if answer is not None and answer.status_code in (200, 201):
                return answer.json()
            status = "no answer" if answer is None else answer.status_code
            if answer is not None and answer.status_code not in RETRYABLE:
                raise RuntimeError(f"{what}: {status} {answer.text[:300]}")
            if time.monotonic() > deadline:
                detail = "" if answer is None else answer.text[:300]
                raise RuntimeError(f"{what}: still {status} after {self.patience:.0f} s {detail}")
            self.retries[f"{what.split()[0]} {status}"] += 1
            await asyncio.sleep(0.25)

    async def run(self, index: int) -> None:
        order = f"O-{self.tag}-{index:05d}"
        body = case_body(order)  # built once: a retry must repeat the exact body of its key
        created = await self.until_ok("create", "POST", "/v1/cases", "system", body, f"chaos-{order}")
        case_id = created["case_id"]
        self.case_ids.append(case_id)
        self.index_of[case_id] = index
        if withdraws(index):
            # Every fourth customer changes their mind while the merchant looks: no money may move.
            self.withdrawn.add(case_id)
            await self.wait_for_step(case_id, "merchant_verification")
            payload = {"reason": "found the manual: it was the lid"}
            path = f"/v1/cases/{case_id}/withdrawal"
            await self.until_ok(f"withdrawal on {case_id}", "POST", path, "system", payload, f"{case_id}-w")
            return
        for role, path, payload, at in STEPS:
            await self.wait_for_step(case_id, at)
            if self.held(index, at):
                await self.hold(case_id, at, self.gates[at])
            await self.until_ok(
                f"{path} on {case_id}",
                "POST",
                f"/v1/cases/{case_id}/{path}",
                role,
                payload,
                f"{case_id}-{path}",
            )

    def held(self, index: int, step: str) -> bool:
        """Whether the case with this index is held at `step` until the chaos opens its gate."""
        return step in self.gates and (step not in self.waves or index in self.waves[step])

    async def hold(self, case_id: str, step: str, gate: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(gate.wait(), self.patience)
        except TimeoutError:
            raise RuntimeError(
                f"case {case_id} held at {step} for {self.patience:.0f} s: no fault came"
            ) from None

    async def wait_for_step(self, case_id: str, step: str) -> None:
        deadline = time.monotonic() + self.patience
        seen = "?"
        while time.monotonic() < deadline:
            view = await self.call("GET", f"/v1/cases/{case_id}", "agent")
            if view is not None and view.status_code == 200:
                seen = view.json()["step"]
                if seen == step:
                    return
            else:  # the store or the API is down: a shop front would keep asking
                self.retries[f"GET case {'no answer' if view is None else view.status_code}"] += 1
            await asyncio.sleep(0.1)
        raise RuntimeError(f"case {case_id} never reached {step} in {self.patience:.0f} s (at {seen})")


async def drive(
    driver: ChaosDriver,
    cases: int,
    concurrency: int,
    failures: list[str],
    progress: Progress | None = None,
) -> None:
    progress = progress or Progress("cases", cases)
    queue = iter(range(cases))

    async def lane() -> None:
        for i in queue:
            try:
                await driver.run(i)
            except Exception as err:  # reported with the checks; the other cases go on
                failures.append(f"case #{i}: {err}")
            progress.tick()

    await asyncio.gather(*(lane() for _ in range(min(concurrency, cases))))


def withdraws(index: int) -> bool:
    """Whether the customer of the case with this index withdraws it (every fourth)."""
    return index % WITHDRAW_EVERY == WITHDRAW_EVERY - 1


def resolving(cases: int) -> int:
    """How many of `cases` the driver walks to resolved (the others are withdrawn)."""
    return sum(1 for i in range(cases) if not withdraws(i))


# ------------------------------------------------------------------ the chaos


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temp dir on a free port (never the shared one on 5432).

    initdb refuses to run as root, so as root the cluster runs as the `postgres` system user."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="aftersales-chaos-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    @staticmethod
    def find() -> Path | None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        initdb = found[-1] if found else shutil.which("initdb")
        return Path(initdb).parent if initdb else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.dir,
            user=self.user,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), *args)

    def start(self) -> PrivatePostgres:
        if self.user:
            shutil.chown(self.dir, self.user, pwd.getpwnam(self.user).pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.pg_ctl("start", "-w")
        return self

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode, "-w")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Chaos:
    """What the scenario does to the stack, and on which events: no fault waits for a clock.

    A fault is injected when `waiting` cases of the run wait at `at_step` (read from the case
    store; 0 means every case that can wait there at once), which the driver holds them at until
    the fault is in place. worker-kill kills once at each of `kills` successive steps from
    `at_step`. A restarted part stays down until a case has acted against it, and at least `down`
    seconds."""

    at_step: str | None = None  # None: the scenario's default (DEFAULT_AT_STEP, else LATE_STEP)
    waiting: int = 0
    kills: int = 5  # worker-kill: at most len(GATE_STEPS) from at_step
    down: float = 3.0  # server-restart, postgres-restart, storm: the least seconds the part stays down
    kill_every: float = 10.0  # storm: a worker SIGKILL this often

    def steps(self, scenario: str) -> list[str]:
        """The steps the faults of `scenario` are injected at, in order."""
        if scenario == STORM:
            return list(STORM_RESTARTS)
        first = self.at_step or DEFAULT_AT_STEP.get(scenario, LATE_STEP)
        if first not in GATE_STEPS:
            raise ValueError(f"--at-step must be one of {', '.join(GATE_STEPS)}, not {first!r}")
        count = self.kills if scenario == "worker-kill" else 1
        steps = list(GATE_STEPS[GATE_STEPS.index(first) :][:count])
        if len(steps) < max(count, 1):
            raise ValueError(f"{count} kills from {first} need {count} steps; only {len(steps)} follow")
        return steps


async def supervise(stack: BenchStack, notes: list[str]) -> None:
    """Restart a process that died on its own (not by our hand), and say so: that is a finding."""
    while True:
        await asyncio.sleep(0.5)
        for name in SUPERVISED:
            proc = stack.procs.get(name)
            if proc is not None and proc.poll() is not None:
                notes.append(f"{name} exited by itself (code {proc.returncode}); restarted it")
                stack.procs.pop(name)
                stack.restart(name)


def open_and_steps(database_url: str, case_ids: list[str]) -> dict[str, str | None]:
    """Per case of the run: its step in the store, or None once it is closed (or not there yet)."""
    from store.cases import get_case
    from store.db import get_engine, make_session_factory

    sessions = make_session_factory(get_engine(database_url))
    with sessions() as session:
        rows = [(c, get_case(session, c)) for c in case_ids]
    return {c: row.step if row is not None and row.status != "closed" else None for c, row in rows}


class Trigger:
    """Holds the cases at the fault steps and injects each fault when enough of them wait there."""

    def __init__(self, stack: BenchStack, driver: ChaosDriver, waiting: int, patience: float) -> None:
        self.stack, self.driver, self.waiting, self.patience = stack, driver, waiting, patience
        self.faults: list[Fault] = []  # injected so far

    async def cases_waiting_at(self, step: str) -> tuple[int, list[str]]:
        """Once `waiting` of the cases held at `step` wait there in the store: how many, and the cases
        of the run still open (the ones the fault hits)."""
        deadline = time.monotonic() + self.patience
        driver, url = self.driver, self.stack.database_url
        while True:
            held = [c for c in list(driver.case_ids) if driver.held(driver.index_of[c], step)]
            steps = await asyncio.to_thread(open_and_steps, url, held)
            at_step = sum(1 for s in steps.values() if s == step)
            if at_step >= self.waiting:
                steps = await asyncio.to_thread(open_and_steps, url, list(driver.case_ids))
                return at_step, [c for c, s in steps.items() if s is not None]
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {at_step} of the {self.waiting} cases expected ever waited at {step}"
                )
            await asyncio.sleep(0.2)

    async def outage_met(self, began: float, down: float) -> str:
        """After the gate opened on a stopped part: until a case has acted (and `down` s passed)."""
        await asyncio.wait_for(self.driver.acted.wait(), self.patience)
        left = down - (time.monotonic() - began)
        if left > 0:
            await asyncio.sleep(left)
        return self.driver.first_act

    async def run(self, steps: list[str], inject: Callable[[Trigger, str], Awaitable[Fault]]) -> None:
        try:
            for step in steps:
                self.faults.append(await inject(self, step))
        finally:
            for gate in self.driver.gates.values():  # never leave a case held, whatever happened
                gate.set()

    def release(self, step: str) -> None:
        """Let the cases held at `step` act; the next POST sets `driver.acted`."""
        self.driver.acted.clear()
        self.driver.gates[step].set()


def kill_worker(stack: BenchStack) -> Callable[[Trigger, str], Awaitable[Fault]]:
    async def inject(trigger: Trigger, step: str) -> Fault:
        waiting, open_cases = await trigger.cases_waiting_at(step)
        stack.kill_process("worker")
        trigger.release(step)
        first = await trigger.outage_met(time.monotonic(), 0)
        stack.restart("worker")
        return Fault(
            f"worker SIGKILLed with {waiting} cases waiting at {step}; re-spawned once a case acted "
            f"without it ({first})",
            step, waiting, open_cases, first,
        )  # fmt: skip

    return inject


def restart_server(stack: BenchStack, down: float) -> Callable[[Trigger, str], Awaitable[Fault]]:
    async def inject(trigger: Trigger, step: str) -> Fault:
        waiting, open_cases = await trigger.cases_waiting_at(step)
        exit_secs = await asyncio.to_thread(stack.stop_process, "temporal")
        began = time.monotonic()
        trigger.release(step)
        first = await trigger.outage_met(began, down)
        was_down = time.monotonic() - began
        stack.restart("temporal")
        host, _, port = stack.s.temporal_address.rpartition(":")
        procs = [("temporal", stack.procs["temporal"])]
        await asyncio.to_thread(wait_until, "Temporal", lambda: port_open(host, int(port)), procs, 60)
        return Fault(
            f"Temporal dev server stopped (SIGTERM, exited in {exit_secs:.1f} s) with {waiting} cases "
            f"waiting at {step}; down {was_down:.1f} s, until a case acted against it ({first}); "
            "started again on the same --db-filename",
            step, waiting, open_cases, first,
        )  # fmt: skip

    return inject


def restart_postgres(pg: PrivatePostgres, down: float) -> Callable[[Trigger, str], Awaitable[Fault]]:
    async def inject(trigger: Trigger, step: str) -> Fault:
        waiting, open_cases = await trigger.cases_waiting_at(step)
        await asyncio.to_thread(pg.stop, "fast")
        began = time.monotonic()
        trigger.release(step)
        first = await trigger.outage_met(began, down)
        was_down = time.monotonic() - began
        await asyncio.to_thread(pg.pg_ctl, "start", "-w")
        return Fault(
            f"private PostgreSQL on port {pg.port} stopped (-m fast) with {waiting} cases waiting at "
            f"{step}; down {was_down:.1f} s, until a case acted against it ({first}); started again",
            step, waiting, open_cases, first,
        )  # fmt: skip

    return inject


async def switch_on_provider_faults(stack: BenchStack, seed: int) -> dict[str, float | int]:
    """The simulator answers 15 % of provider calls 503 and 15 % after the client's timeout (done)."""
    faults = {"error_rate": 0.15, "timeout_rate": 0.15, "timeout_sleep_seconds": 2.0, "seed": seed}
    async with httpx.AsyncClient(base_url=stack.s.resolved_provider_base_url) as sim:
        (await sim.put("/v1/admin/faults", json=faults)).raise_for_status()
    return faults


def provider_faults(stack: BenchStack, seed: int) -> Callable[[Trigger, str], Awaitable[Fault]]:
    async def inject(trigger: Trigger, step: str) -> Fault:
        waiting, open_cases = await trigger.cases_waiting_at(step)
        faults = await switch_on_provider_faults(stack, seed)
        trigger.release(step)
        return Fault(
            f"simulator faults {faults} (provider client timeout 1 s) switched on with {waiting} cases "
            f"waiting at {step}",
            step, waiting, open_cases,
        )  # fmt: skip

    return inject


# ------------------------------------------------------------------ the checks


def local_activity_marker(attributes: Any) -> tuple[str, int] | None:
    """A local activity's type and attempt from its marker (core writes them as plain JSON)."""
    if attributes.marker_name != "core_local_activity" or "data" not in attributes.details:
        return None
    data = json.loads(attributes.details["data"].payloads[0].data)
    return str(data.get("activity_type", "?")), int(data.get("attempt") or 1)


def outbox_retries(database_url: str, case_ids: list[str]) -> dict[str, int]:
    """Failed delivery attempts of each case's notifications (the worker's outbox relay retries them)."""
    from store.db import get_engine, make_session_factory
    from store.outbox import messages_of

    sessions = make_session_factory(get_engine(database_url))
    with sessions() as session:
        return {c: sum(row.attempts for row in messages_of(session, c)) for c in case_ids}


async def history_retries(client: Client, workflow_id: str) -> tuple[int, Counter[str]]:
    """Activity retries in one history: attempts above 1 of each started activity, plus the activities
    that failed or timed out for good; by activity type. Also counts workflow task timeouts/failures."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    types: dict[int, str] = {}
    by_type: Counter[str] = Counter()
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            types[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if attrs.attempt > 1:
                by_type[types.get(attrs.scheduled_event_id, "?")] += attrs.attempt - 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = local_activity_marker(event.marker_recorded_event_attributes)
            if marker is not None and marker[1] > 1:
                by_type[f"{marker[0]} (local)"] += marker[1] - 1
        elif kind in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            by_type["(activity failed/timed out for good)"] += 1
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        ):
            by_type["(workflow task timed out/failed)"] += 1
    activity = sum(n for name, n in by_type.items() if not name.startswith("(workflow"))
    return activity, by_type


Fact = tuple[str, str | None, Decimal, list[str]]  # status, close reason, refunded, chain problems


def store_facts(database_url: str, case_ids: list[str]) -> dict[str, Fact]:
    """Per case: status, close reason, refunded amount, and the problems of its audit chain."""
    from store import audit
    from store.cases import get_case
    from store.db import get_engine, make_session_factory

    sessions = make_session_factory(get_engine(database_url))
    facts: dict[str, Fact] = {}
    with sessions() as session:
        for case_id in case_ids:
            row = get_case(session, case_id)
            if row is None:
                facts[case_id] = ("missing", None, Decimal(0), ["no case row"])
                continue
            problems = [f"seq {p.seq}: {p.problem}" for p in audit.verify_chain(session, case_id)]
            seqs = [event.seq for event in audit.list_events(session, case_id)]
            if seqs != list(range(1, len(seqs) + 1)):
                problems.append(f"event seqs are not 1..{len(seqs)} without gaps or duplicates: {seqs}")
            facts[case_id] = (row.status, row.close_reason, row.refunded_amount, problems)
    return facts


async def wait_store_closed(database_url: str, case_ids: list[str], patience: float) -> dict[str, Fact]:
    """The store catches up after the chaos: wait until every case's row says closed (or patience ends)."""
    deadline = time.monotonic() + patience
    while True:
        facts = await asyncio.to_thread(store_facts, database_url, case_ids)
        if all(f[0] == "closed" for f in facts.values()) or time.monotonic() > deadline:
            return facts
        await asyncio.sleep(1)


async def check(
    stack: BenchStack, client: Client, driver: ChaosDriver, outcome: Outcome, patience: float
) -> None:
    case_ids = driver.case_ids
    facts = await wait_store_closed(stack.database_url, case_ids, patience)
    for case_id, (status, reason, refunded, problems) in facts.items():
        expected = ("withdrawn", Decimal(0)) if case_id in driver.withdrawn else ("resolved", PAID)
        if status == "closed" and (reason, refunded) == expected:
            outcome.closed_ok += 1
        else:
            outcome.failures.append(f"{case_id}: store says {status} {reason}, refunded {refunded}")
        outcome.chain_problems += len(problems)
        outcome.failures += [f"{case_id} audit chain: {p}" for p in problems]

    async with httpx.AsyncClient(base_url=stack.s.resolved_provider_base_url, timeout=30) as sim:
        summary = (await sim.get("/v1/ledger/summary")).json()["refunds_by_case"]
    for case_id, entry in summary.items():
        if case_id not in facts or case_id in driver.withdrawn:
            outcome.failures.append(f"refund for {case_id}, which must have none: {entry}")
            outcome.double_refunds += case_id in driver.withdrawn
            continue
        totals = [(Decimal(t["amount"]), t["currency"]) for t in entry["totals"]]
        if entry["refunds"] == 1 and totals == [(PAID, "CNY")]:
            outcome.refunds_ok += 1
        else:
            outcome.double_refunds += entry["refunds"] > 1
            outcome.failures.append(f"{case_id}: ledger shows {entry}")
    resolved = [c for c in case_ids if c not in driver.withdrawn]
    outcome.failures += [f"{c}: no refund in the ledger" for c in resolved if c not in summary]
    outcome.withdrawn = len(driver.withdrawn)

    mine = {f"case-{c}" for c in case_ids}
    strays = [w.id async for w in client.list_workflows("WorkflowType = 'CaseWorkflow'") if w.id not in mine]
    outcome.failures += [f"workflow {w} has no case of this run (a case lost by the API?)" for w in strays]

    hit = {case_id for fault in outcome.faults for case_id in fault.open_cases}
    outcome.hit = len(hit)
    outcome.hit_closed_ok = sum(
        1
        for case_id in hit
        if facts.get(case_id, ("", None))[0] == "closed"
        and (facts[case_id][1], facts[case_id][2])
        == (("withdrawn", Decimal(0)) if case_id in driver.withdrawn else ("resolved", PAID))
    )
    # The relay delivers notifications after their case's write, maybe after the case closed: count
    # their retries once the outbox has drained (each message delivered or given up on), never while
    # a send is still in flight.
    outcome.outbox = await wait_outbox_drained(stack.database_url, patience)
    outcome.failures += [
        f"outbox: {outcome.outbox[s]} message(s) still {s}" for s in ("pending", "dead") if outcome.outbox[s]
    ]
    outcome.pending_starts = await asyncio.to_thread(pending_starts, stack.database_url)
    if outcome.pending_starts:
        outcome.failures.append(f"{outcome.pending_starts} stored case(s) whose workflow never wrote")
    retried: Counter[str] = Counter()
    relayed = await asyncio.to_thread(outbox_retries, stack.database_url, list(case_ids))
    for workflow_id in mine:
        activity, by_type = await history_retries(client, workflow_id)
        case_id = workflow_id.removeprefix("case-")
        if relayed.get(case_id):
            by_type["notifications (outbox relay)"] += relayed[case_id]
            activity += relayed[case_id]
        outcome.retries += activity
        outcome.hit_retries += activity if case_id in hit else 0
        retried += by_type
    if retried:
        outcome.notes.append(
            "retries by activity: " + ", ".join(f"{k} {v}" for k, v in retried.most_common())
        )
    if driver.retries:
        outcome.notes.append(
            "client retries: " + ", ".join(f"{k} x{v}" for k, v in sorted(driver.retries.items()))
        )


def outbox_statuses(database_url: str) -> Counter[str]:
    """Messages in the store's outbox by status (the store is the run's own: all of them are its)."""
    from sqlalchemy import func, select

    from store.db import get_engine, make_session_factory
    from store.models import OutboxRow

    sessions = make_session_factory(get_engine(database_url))
    with sessions() as session:
        rows = session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
    return Counter({status: int(count) for status, count in rows})


def pending_starts(database_url: str) -> int:
    """Stored cases whose start is still pending (store/case_starts.py): none once every case ran."""
    from store.case_starts import pending_summary
    from store.db import get_engine, make_session_factory

    with make_session_factory(get_engine(database_url))() as session:
        return pending_summary(session).count


async def wait_outbox_drained(database_url: str, patience: float) -> Counter[str]:
    """Until no message is pending (the relays delivered or gave up on each), or no message was
    delivered for `patience` seconds: a backlog that drains is waited for, a stuck one is not."""
    from store.outbox import PENDING

    deadline, last = time.monotonic() + patience, -1
    while True:
        statuses = await asyncio.to_thread(outbox_statuses, database_url)
        if not statuses[PENDING] or time.monotonic() > deadline:
            return statuses
        if statuses[PENDING] != last:
            if last >= 0:
                print(f"  outbox: {statuses[PENDING]} message(s) pending, draining ...", flush=True)
            deadline, last = time.monotonic() + patience, statuses[PENDING]
        await asyncio.sleep(5)


def order_lines_paid(database_url: str) -> dict[tuple[str, str], tuple[Decimal, Decimal, str]]:
    """Every order line in the store: (order, line) -> (paid, refunded or reserved, currency)."""
    from sqlalchemy import select

    from store.db import get_engine, make_session_factory
    from store.models import OrderLineRow

    sessions = make_session_factory(get_engine(database_url))
    with sessions() as session:
        rows = session.scalars(select(OrderLineRow)).all()
        return {(r.order_id, r.line_id): (r.paid_amount, r.refunded_amount, r.currency) for r in rows}


async def check_order_lines(stack: BenchStack, outcome: Outcome) -> tuple[int, int, int]:
    """Refunded <= paid on every order line, by the store's books and by the simulator's ledger (which
    knows the order of a refund, not the line: its refunds per order <= what the order's lines cost).
    Returns (lines, orders refunded in the ledger, problems); the problems go to the failures."""
    lines = await asyncio.to_thread(order_lines_paid, stack.database_url)
    problems = [
        f"order line {order}/{line}: {refunded} {currency} refunded of {paid} paid"
        for (order, line), (paid, refunded, currency) in lines.items()
        if refunded > paid
    ]
    paid_per_order: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (order, _), (paid, _, currency) in lines.items():
        paid_per_order[order, currency] += paid
    async with httpx.AsyncClient(base_url=stack.s.resolved_provider_base_url, timeout=60) as sim:
        answer = await sim.get("/v1/ledger", params={"kind": "refund"})
        answer.raise_for_status()
    refunded_per_order: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in answer.json()["entries"]:
        record = entry["record"]
        amount = record["amount"]
        refunded_per_order[record["order_id"], amount["currency"]] += Decimal(amount["amount"])
    problems += [
        f"ledger: {refunded} {currency} refunded on order {order}, whose lines cost "
        f"{paid_per_order.get((order, currency), Decimal(0))}"
        for (order, currency), refunded in refunded_per_order.items()
        if refunded > paid_per_order.get((order, currency), Decimal(0))
    ]
    outcome.failures += problems
    return len(lines), len(refunded_per_order), len(problems)


# ------------------------------------------------------------------ a scenario


@contextlib.contextmanager
def preserved_environment() -> Iterator[None]:
    """BenchStack points this process's settings at the stack; put them back (tests run in-process)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


async def run_scenario(
    scenario: str,
    cases: int,
    seed: int = 7,
    *,
    database_url: str | None = None,
    concurrency: int = 10,
    time_scale: int | None = None,
    plan: Chaos | None = None,
    patience: float | None = None,
    keep: bool = False,
) -> Outcome:
    """One scenario in its own stack: drive `cases` cases under the chaos, then check everything.

    time_scale and patience (how long a case may take a step) default to the scenario's."""
    if scenario not in (*SCENARIOS, STORM):
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join((*SCENARIOS, STORM))}")
    plan = plan or Chaos()
    plan.steps(scenario)  # a plan that cannot happen fails before any stack starts
    storm = scenario == STORM
    if storm:
        storm_waves(cases, plan.waiting or concurrency // 2)
    time_scale = time_scale or (STORM_TIME_SCALE if storm else DEFAULT_TIME_SCALE)
    patience = patience or (600 if storm else 180)
    outcome = Outcome(scenario)
    pg: PrivatePostgres | None = None
    if scenario in ("postgres-restart", STORM):
        bindir = PrivatePostgres.find()
        if bindir is None:
            outcome.skipped = "skipped: no initdb"
            return outcome
        pg = await asyncio.to_thread(PrivatePostgres(bindir).start)
        database_url = pg.url
    extra_env: dict[str, str] = {}
    if scenario in ("provider-faults", STORM):
        # The simulator's late answers (2 s) must outlast the provider client's timeout to be unclear.
        extra_env["AFTERSALES_PROVIDER_TIMEOUT_SECONDS"] = "1"
    # A killed worker leaves messages claimed by its dead relay; they are due again after the lease
    # (kept above batch size / concurrency x provider timeout), and failed ones retry within 10 s, so
    # the outbox drains within the checks' patience in every scenario.
    extra_env["AFTERSALES_OUTBOX_LEASE_SECONDS"] = f"{OUTBOX_LEASE:g}"
    extra_env["AFTERSALES_OUTBOX_RETRY_MAX_SECONDS"] = "10"
    began = time.monotonic()
    try:
        with (
            preserved_environment(),
            BenchStack(
                database_url=database_url, time_scale=time_scale, keep=keep, extra_env=extra_env
            ) as stack,
        ):
            print(f"[{scenario}] store: {stack.store_kind}; state in {stack.dir}", flush=True)
            if storm:
                assert pg is not None
                await storm_run(stack, pg, cases, seed, concurrency, plan, patience, outcome)
            else:
                await scenario_run(scenario, stack, pg, cases, seed, concurrency, plan, patience, outcome)
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.close)
    outcome.seconds = time.monotonic() - began
    return outcome


async def drive_under_chaos(
    stack: BenchStack,
    driver: ChaosDriver,
    cases: int,
    concurrency: int,
    outcome: Outcome,
    chaos: asyncio.Task[None],
    helpers: list[asyncio.Task[None]],
    progress: Progress | None = None,
) -> None:
    """Drive the cases while `chaos` (the trigger) and `helpers` run; then stop them all and make sure
    every process of the stack runs again."""
    try:
        await drive(driver, cases, concurrency, outcome.failures, progress)
        await asyncio.wait_for(chaos, 120)  # a restart still bringing its part back
    except Exception as err:
        outcome.failures.append(f"chaos: {err!r}")
    finally:
        for task in (chaos, *helpers):
            task.cancel()
        await asyncio.gather(chaos, *helpers, return_exceptions=True)
        for name in ("temporal", *SUPERVISED):
            if name not in stack.procs:  # cancelled between a kill and its re-spawn
                stack.restart(name)


async def scenario_run(
    scenario: str,
    stack: BenchStack,
    pg: PrivatePostgres | None,
    cases: int,
    seed: int,
    concurrency: int,
    plan: Chaos,
    patience: float,
    outcome: Outcome,
) -> None:
    client = await connect(stack.s)
    steps = plan.steps(scenario)
    outcome.faults_planned = len(steps)
    pids = {name: stack.pid(name) for name in ("worker", "api")}
    inject: Callable[[Trigger, str], Awaitable[Fault]]
    if scenario == "worker-kill":
        inject = kill_worker(stack)
    elif scenario == "server-restart":
        inject = restart_server(stack, plan.down)
    elif scenario == "postgres-restart":
        assert pg is not None
        inject = restart_postgres(pg, plan.down)
    else:
        inject = provider_faults(stack, seed)
    # Every case the lanes can hold at once must be waiting before a fault: all lanes hold one.
    waiting = plan.waiting or min(concurrency, resolving(cases))

    limits = httpx.Limits(max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=30) as http:
        gates = {step: asyncio.Event() for step in steps}
        driver = ChaosDriver(http, stack.keys, f"C{uuid.uuid4().hex[:6].upper()}", patience, gates)
        trigger = Trigger(stack, driver, waiting, patience)
        chaos = asyncio.create_task(trigger.run(steps, inject))
        supervisor = asyncio.create_task(supervise(stack, outcome.notes))
        await drive_under_chaos(stack, driver, cases, concurrency, outcome, chaos, [supervisor])
    outcome.faults = trigger.faults
    outcome.notes[:0] = [fault.what for fault in outcome.faults]
    if len(outcome.faults) < len(steps):
        outcome.failures.append(
            f"the chaos did not happen as planned: {len(outcome.faults)} of {len(steps)} faults at "
            f"{', '.join(steps)} (waiting for {waiting} cases at each)"
        )
    outcome.cases = len(driver.case_ids)
    if scenario == "server-restart":
        same = {
            name: stack.procs.get(name) is not None and stack.pid(name) == pid for name, pid in pids.items()
        }
        ready = await asyncio.to_thread(http_ok, stack.api_url + "/readyz")
        outcome.notes.append(
            ", ".join(
                f"{n} {'reconnected (same process)' if ok else 'was restarted'}" for n, ok in same.items()
            )
            + f"; API /readyz {'ok' if ready else 'NOT ready'} after the restart"
        )
        if not ready:
            outcome.failures.append("the API is not ready after the Temporal restart")
    if outcome.cases < cases:
        outcome.failures.append(f"only {outcome.cases} of {cases} cases were created")
    await check(stack, client, driver, outcome, patience=60)
    outcome.notes.insert(
        len(outcome.faults),
        f"the faults hit {outcome.hit} case(s) in flight, {outcome.hit_closed_ok} closed as expected, "
        f"{outcome.hit_retries} activity retries in their histories",
    )


# ------------------------------------------------------------------ storm: all the faults in one run


def storm_waves(cases: int, size: int) -> dict[str, frozenset[int]]:
    """The cases held for each restart of the storm: `size` resolving cases from a third (the
    dev-server restart) and from two thirds (the PostgreSQL restart) of the run on, so each restart
    hits the run in its middle and never waits for the other's cases."""
    third = [i for i in range(cases // 3, 2 * cases // 3) if not withdraws(i)]
    size = min(size, len(third))
    if size < 1:
        raise ValueError(f"storm needs cases to hold for its restarts: --cases {cases} is too few")
    starts = (cases // 3, 2 * cases // 3)
    return {
        step: frozenset(itertools.islice((i for i in range(start, cases) if not withdraws(i)), size))
        for step, start in zip(STORM_RESTARTS, starts, strict=True)
    }


async def kill_worker_every(stack: BenchStack, every: float, kills: list[float]) -> None:
    """SIGKILL the worker every `every` seconds, whatever it is doing, and re-spawn it WORKER_DOWN s
    later; `kills` gets the second of each kill (periodic by design: a worker that crashes at random)."""
    began = time.monotonic()
    for tick in itertools.count(1):
        await asyncio.sleep(max(began + tick * every - time.monotonic(), 0))
        if "worker" in stack.procs:
            stack.kill_process("worker")
            kills.append(time.monotonic() - began)
        await asyncio.sleep(min(WORKER_DOWN, every / 2))
        if "worker" not in stack.procs:
            stack.restart("worker")


async def storm_progress(progress: Progress, kills: list[float], trigger: Trigger, every: float = 10) -> None:
    """Cases done, kills and restarts so far, every `every` seconds."""
    while True:
        await asyncio.sleep(every)
        restarts = ", ".join(STORM_RESTARTS[f.step] for f in trigger.faults) or "none yet"
        print(
            f"  storm: {progress.done}/{progress.total} cases done, {len(kills)} worker kills, "
            f"restarts done: {restarts} ({time.monotonic() - progress.began:.0f} s)",
            flush=True,
        )


async def storm_run(
    stack: BenchStack,
    pg: PrivatePostgres,
    cases: int,
    seed: int,
    concurrency: int,
    plan: Chaos,
    patience: float,
    outcome: Outcome,
) -> None:
    """Every fault at once: provider faults from the first case, a worker SIGKILL every
    `plan.kill_every` s, and the dev server and PostgreSQL restarted once each, when their wave of
    cases waits at the restart's step; then the checks of the other scenarios and the storm's own."""
    client = await connect(stack.s)
    steps = plan.steps(STORM)
    waves = storm_waves(cases, plan.waiting or concurrency // 2)
    restarts = {
        step: restart_server(stack, plan.down) if STORM_RESTARTS[step] == "server-restart"
        else restart_postgres(pg, plan.down)
        for step in steps
    }  # fmt: skip

    async def inject(trigger: Trigger, step: str) -> Fault:
        return await restarts[step](trigger, step)

    provider = Fault(
        f"simulator faults {await switch_on_provider_faults(stack, seed)} (provider client timeout 1 s) "
        "switched on before the first case, for the whole run",
        "(start)", 0, [],
    )  # fmt: skip
    outcome.faults_planned = len(steps) + 1
    kills: list[float] = []
    progress = Progress("cases", cases, every=math.inf)  # storm_progress prints, with the kills
    limits = httpx.Limits(max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=30) as http:
        gates = {step: asyncio.Event() for step in steps}
        tag = f"S{uuid.uuid4().hex[:6].upper()}"
        driver = ChaosDriver(http, stack.keys, tag, patience, gates, waves)
        waiting = min(len(wave) for wave in waves.values())  # a whole wave (they are the same size)
        trigger = Trigger(stack, driver, waiting, patience)
        chaos = asyncio.create_task(trigger.run(steps, inject))
        helpers = [
            asyncio.create_task(supervise(stack, outcome.notes)),
            asyncio.create_task(kill_worker_every(stack, plan.kill_every, kills)),
            asyncio.create_task(storm_progress(progress, kills, trigger)),
        ]
        await drive_under_chaos(stack, driver, cases, concurrency, outcome, chaos, helpers, progress)
    outcome.kills = len(kills)
    outcome.faults = [provider, *trigger.faults]
    outcome.cases = len(driver.case_ids)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *kills])]
    outcome.notes[:0] = [
        f"worker SIGKILLed {len(kills)} times, every {plan.kill_every:g} s (longest gap "
        f"{max(gaps, default=0):.1f} s), re-spawned {min(WORKER_DOWN, plan.kill_every / 2):g} s after each",
        *(fault.what for fault in outcome.faults),
    ]
    if len(trigger.faults) < len(steps):
        outcome.failures.append(
            f"the chaos did not happen as planned: {len(trigger.faults)} of {len(steps)} restarts at "
            f"{', '.join(steps)} (waiting for {waiting} cases of a wave at each)"
        )
    if outcome.cases < cases:
        outcome.failures.append(f"only {outcome.cases} of {cases} cases were created")
    await check(stack, client, driver, outcome, patience=patience)
    lines, orders, over = await check_order_lines(stack, outcome)
    statuses = outcome.outbox  # waited for in `check`
    resolved = outcome.cases - outcome.withdrawn
    outcome.checks = [
        ("no case lost: every case closed as expected", f"{outcome.closed_ok}/{cases}",
         outcome.closed_ok == outcome.cases == cases),
        ("no double payment: one refund per resolved case, none else",
         f"{outcome.refunds_ok}/{resolved}, {outcome.double_refunds} double",
         outcome.refunds_ok == resolved and outcome.double_refunds == 0),
        ("refunded <= paid on every order line (store) and order (ledger)",
         f"{lines} lines, {orders} orders refunded, {over} over", lines == cases and over == 0),
        ("every audit chain intact", f"{outcome.cases} chains, {outcome.chain_problems} problems",
         outcome.chain_problems == 0),
        ("every stored case's workflow started", f"{outcome.pending_starts} start(s) pending",
         outcome.pending_starts == 0),
        ("every outbox message delivered",
         f"{statuses['delivered']} delivered, {statuses['pending']} pending, {statuses['dead']} dead",
         not statuses["pending"] and not statuses["dead"]),
        ("every fault happened",
         f"{outcome.kills} worker SIGKILLs; {len(outcome.faults)}/{outcome.faults_planned}: provider "
         "faults, dev-server restart, PostgreSQL restart",
         outcome.kills > 0 and len(outcome.faults) == outcome.faults_planned),
        ("cases in flight at a restart closed as expected", f"{outcome.hit_closed_ok}/{outcome.hit}",
         outcome.hit_closed_ok == outcome.hit > 0),
    ]  # fmt: skip
    outcome.notes.insert(
        len(outcome.faults) + 1,
        f"the restarts hit {outcome.hit} case(s) in flight, {outcome.hit_closed_ok} closed as expected, "
        f"{outcome.hit_retries} activity retries in their histories",
    )


# ------------------------------------------------------------------ command


def report(outcomes: list[Outcome]) -> None:
    show("Chaos", HEADER, [o.row() for o in outcomes])
    for o in outcomes:
        if o.checks:
            rows = [[name, figures, "pass" if ok else "FAIL"] for name, figures, ok in o.checks]
            show(f"{o.scenario}: {o.cases} cases in {o.seconds:.0f} s", ["check", "figures", "result"], rows)
    for o in outcomes:
        for note in o.notes:
            print(f"- {o.scenario}: {note}")
    for o in outcomes:
        for failure in o.failures[:20]:
            print(f"FAILED {o.scenario}: {failure}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        choices=[*SCENARIOS, STORM, "all"],
        default="all",
        help=f"all: the four isolated scenarios ({STORM} runs alone)",
    )
    parser.add_argument(
        "--cases", type=int, default=None, help=f"cases per scenario (default 20; {STORM}: 1000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulator's fault dice")
    parser.add_argument(
        "--concurrency", type=int, default=None, help=f"cases in flight (default 10; {STORM}: 50)"
    )
    parser.add_argument(
        "--time-scale",
        type=int,
        default=None,
        help=f"AFTERSALES_POLICY_TIME_SCALE of the stack (default {DEFAULT_TIME_SCALE}; "
        f"{STORM}: {STORM_TIME_SCALE})",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL for a scratch store (not postgres-restart, which has its own cluster)",
    )
    parser.add_argument(
        "--at-step",
        choices=GATE_STEPS,
        default=None,
        help=f"the step the cases wait at for the (first) fault (default: {GATE_STEPS[0]} for worker-kill, "
        f"{LATE_STEP} for the others)",
    )
    parser.add_argument(
        "--waiting",
        type=int,
        default=0,
        help="inject the fault when this many cases wait at the step (default: every case that can, "
        f"min(concurrency, cases not withdrawn)); {STORM}: the cases of each restart's wave, all held "
        "at its step (default concurrency // 2)",
    )
    parser.add_argument(
        "--down",
        type=float,
        default=3.0,
        help="server-restart, postgres-restart, storm: the least seconds the part stays down (it stays down "
        "until a case has acted against it in any case)",
    )
    parser.add_argument(
        "--kills", type=int, default=5, help="worker-kill: one kill at each of this many steps from --at-step"
    )
    parser.add_argument(
        "--kill-every",
        type=float,
        default=10.0,
        help=f"{STORM}: SIGKILL the worker this often, in seconds (re-spawned {WORKER_DOWN:g} s later)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each stack's temp dir (logs, databases)")
    return parser.parse_args(argv)


async def run_all(args: argparse.Namespace) -> list[Outcome]:
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    outcomes = []
    for name in names:
        storm = name == STORM
        cases = args.cases or (1000 if storm else 20)
        concurrency = args.concurrency or (50 if storm else 10)
        plan = Chaos(args.at_step, args.waiting, args.kills, args.down, args.kill_every)
        print(f"{name}: {cases} cases, {concurrency} in flight ...", flush=True)
        outcomes.append(
            await run_scenario(
                name,
                cases,
                args.seed,
                database_url=args.database_url,
                concurrency=concurrency,
                time_scale=args.time_scale,
                plan=plan,
                keep=args.keep,
            )
        )
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcomes = asyncio.run(run_all(args))
    report(outcomes)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
