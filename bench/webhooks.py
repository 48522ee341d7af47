"""Webhooks under load and under faults (DESIGN §11, issue 18). Each run starts its own stack
(bench.stack) with a subscription whose endpoint is the provider simulator's receiver.

    python -m bench.webhooks chaos   --cases 200 [--database-url postgresql+psycopg2://…]
    python -m bench.webhooks latency --rate 20 --duration 30
    (both end by timing the event feed: GET /v1/events, 1,000 events a page)

- chaos: N cases driven to the end (bench.chaos's shop front: every fourth withdrawn) while the
  receiver answers 30 % of arrivals 500 and 10 % late (1 s), by a seeded hash of webhook-id and
  attempt; the worker is SIGKILLed once --kill-after webhooks have arrived (an event, not a time)
  and re-spawned. Then, once every case is closed: every event of every case accepted at least
  once with a valid signature, accepted in seq order per case, and no event of a case arriving
  before the previous one was accepted (head of line). Exits 1 if a check fails.
- latency: cases opened at --rate per second for --duration seconds (each records its intake
  events at once), no faults; the lag of each webhook from its event's commit (`recorded_at`) to
  its first accepted arrival at the receiver: p50, p95, p99, max.

Retries are scaled down (AFTERSALES_WEBHOOK_RETRY_SCALE) so that a run ends in minutes; leases are
5 s, so the killed relay's lanes are taken over quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bench.cases import case_body
from bench.chaos import ChaosDriver, drive, preserved_environment, wait_store_closed
from bench.report import Progress, percentile, show
from bench.stack import BenchStack

INBOX = "bench"
RETRY_SCALE = "0.002"  # 5 s → 10 ms, 5 min → 0.6 s, 30 min → 3.6 s, 2 h → 14 s, 5 h → 36 s …
TIME_SCALE = 360


@dataclass
class Verdict:
    events: int = 0
    arrivals: int = 0
    accepted: int = 0
    failed_answers: int = 0
    invalid: int = 0
    missing: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    overtaken: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def passed(self) -> bool:
        return not (self.missing or self.out_of_order or self.overtaken or self.invalid)


def stored_events(database_url: str, case_ids: list[str]) -> dict[str, list[tuple[int, datetime]]]:
    """Every event of the cases, (seq, recorded_at) in seq order, from the case store."""
    from sqlalchemy import select

    from store.db import get_engine, make_session_factory
    from store.models import EventRow

    sessions = make_session_factory(get_engine(database_url))
    found: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    with sessions() as session:
        rows = session.execute(
            select(EventRow.case_id, EventRow.seq, EventRow.recorded_at)
            .where(EventRow.case_id.in_(case_ids))
            .order_by(EventRow.case_id, EventRow.seq)
        )
        for case_id, seq, recorded_at in rows:
            found[case_id].append((seq, recorded_at))
    return found


def stages(database_url: str, case_ids: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Per delivered webhook: event recorded → queued for the subscription (the feed's horizon and
    the fan-out), and queued → delivered (leasing, sending, recording), in seconds."""
    from sqlalchemy import select

    from store.db import get_engine, make_session_factory
    from store.models import EventRow, WebhookAttemptRow, WebhookDeliveryRow

    sessions = make_session_factory(get_engine(database_url))
    queued, sent = [], []
    with sessions() as session:
        rows = session.execute(
            select(EventRow.recorded_at, WebhookDeliveryRow.created_at, WebhookDeliveryRow.delivered_at)
            .join(WebhookDeliveryRow, WebhookDeliveryRow.event_id == EventRow.id)
            .where(EventRow.case_id.in_(case_ids), WebhookDeliveryRow.delivered_at.is_not(None))
        )
        for recorded_at, created_at, delivered_at in rows:
            queued.append((created_at - recorded_at).total_seconds())
            if delivered_at is not None:
                sent.append((delivered_at - created_at).total_seconds())
        calls = [
            ms / 1000
            for ms in session.scalars(
                select(WebhookAttemptRow.latency_ms).where(WebhookAttemptRow.case_id.in_(case_ids))
            )
        ]
    return queued, sent, calls


def judge(events: dict[str, list[tuple[int, datetime]]], arrivals: list[dict[str, Any]]) -> Verdict:
    verdict = Verdict(events=sum(map(len, events.values())), arrivals=len(arrivals))
    per_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for arrival in arrivals:
        if not arrival["valid"]:
            verdict.invalid += 1
        if arrival["status"] != 200:
            verdict.failed_answers += 1
        if arrival["case_id"] in events:
            per_case[arrival["case_id"]].append(arrival)
    for case_id, expected in events.items():
        seen = per_case.get(case_id, [])
        accepted = [a["seq"] for a in seen if a["status"] == 200 and a["valid"]]
        verdict.accepted += len(set(accepted))
        verdict.duplicates += len(accepted) - len(set(accepted))
        missing = {seq for seq, _ in expected} - set(accepted)
        if missing:
            verdict.missing.append(f"{case_id}: seq {sorted(missing)}")
        first_accepted: dict[int, int] = {}
        for index, arrival in enumerate(seen):
            if arrival["status"] == 200 and arrival["valid"]:
                first_accepted.setdefault(arrival["seq"], index)
        if sorted(first_accepted, key=first_accepted.__getitem__) != sorted(first_accepted):
            verdict.out_of_order.append(case_id)
        for index, arrival in enumerate(seen):
            earlier = first_accepted.get(arrival["seq"] - 1)
            if arrival["seq"] > 1 and (earlier is None or earlier > index):
                verdict.overtaken.append(f"{case_id} seq {arrival['seq']}")
                break
    return verdict


class Bench:
    def __init__(self, stack: BenchStack) -> None:
        self.stack = stack
        self.api = httpx.AsyncClient(base_url=stack.api_url, timeout=30)
        self.sim = httpx.AsyncClient(base_url=stack.s.resolved_provider_base_url, timeout=30)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.keys[role]}"}

    async def subscribe(self) -> str:
        url = f"{self.stack.s.resolved_provider_base_url}/v1/webhooks/{INBOX}"
        made = await self.api.post(
            "/v1/admin/webhooks", json={"url": url, "description": "bench"}, headers=self.auth("supervisor")
        )
        made.raise_for_status()
        body = made.json()
        answer = await self.sim.put(f"/v1/admin/webhook-inboxes/{INBOX}", json={"secrets": [body["secret"]]})
        answer.raise_for_status()
        return str(body["id"])

    async def faults(self, **config: Any) -> None:
        (await self.sim.put("/v1/admin/faults", json=config)).raise_for_status()

    async def arrivals(self) -> list[dict[str, Any]]:
        answer = await self.sim.get(f"/v1/webhooks/{INBOX}/received")
        answer.raise_for_status()
        return list(answer.json()["received"])

    async def all_delivered(self, case_ids: list[str], patience: float) -> Verdict:
        deadline = time.monotonic() + patience
        while True:
            events = await asyncio.to_thread(stored_events, self.stack.database_url, case_ids)
            verdict = judge(events, await self.arrivals())
            if not verdict.missing or time.monotonic() > deadline:
                return verdict
            await asyncio.sleep(1)

    async def feed_timing(self, rounds: int = 5) -> list[list[object]]:
        """GET /v1/events, 1,000 a page, over the whole feed `rounds` times, as an agent and as a merchant."""
        rows: list[list[object]] = []
        for role in ("agent", "merchant"):
            times: list[float] = []
            sizes: list[int] = []
            for _ in range(rounds):
                cursor: str | None = None
                while True:
                    params: dict[str, Any] = {"limit": 1000} | ({"after": cursor} if cursor else {})
                    began = time.perf_counter()
                    answer = await self.api.get("/v1/events", params=params, headers=self.auth(role))
                    times.append(time.perf_counter() - began)
                    answer.raise_for_status()
                    page = answer.json()
                    sizes.append(len(page["events"]))
                    cursor = page["next_cursor"]
                    if not page["has_more"]:
                        break
            full = [t for t, n in zip(times, sizes, strict=True) if n == 1000] or times
            rows.append(
                [
                    role,
                    len(times),
                    sum(sizes) // rounds,
                    f"{percentile(full, 50) * 1000:.0f} ms",
                    f"{percentile(full, 99) * 1000:.0f} ms",
                    f"{max(full) * 1000:.0f} ms",
                ]
            )
        return rows

    async def close(self) -> None:
        await self.api.aclose()
        await self.sim.aclose()


async def kill_once(bench: Bench, after: int, killed: list[str]) -> None:
    """SIGKILL the worker once `after` webhooks have arrived; re-spawn it at once."""
    while len(await bench.arrivals()) < after:  # noqa: ASYNC110 - the count is the simulator's
        await asyncio.sleep(0.2)
    arrived = len(await bench.arrivals())
    bench.stack.kill_process("worker")
    bench.stack.restart("worker")
    killed.append(f"worker SIGKILLed after {arrived} arrivals, re-spawned")


async def chaos(args: argparse.Namespace) -> bool:
    env = _env() | {"AFTERSALES_OUTBOX_LEASE_SECONDS": "30"}
    with (
        preserved_environment(),
        BenchStack(database_url=args.database_url, time_scale=TIME_SCALE, extra_env=env) as stack,
    ):
        print(f"[webhooks chaos] store: {stack.store_kind}; state in {stack.dir}", flush=True)
        bench = Bench(stack)
        try:
            await bench.subscribe()
            await bench.faults(
                seed=args.seed, webhook_error_rate=0.3, webhook_slow_rate=0.1, webhook_slow_ms=1000
            )
            killed: list[str] = []
            killer = asyncio.create_task(kill_once(bench, args.kill_after, killed))
            async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
                driver = ChaosDriver(http, stack.keys, f"WH{uuid.uuid4().hex[:6]}", args.patience)
                failures: list[str] = []
                began = time.monotonic()
                await drive(driver, args.cases, args.concurrency, failures, Progress("cases", args.cases))
                facts = await wait_store_closed(stack.database_url, driver.case_ids, args.patience)
                closed = sum(f[0] == "closed" for f in facts.values())
                verdict = await bench.all_delivered(driver.case_ids, args.patience)
                seconds = time.monotonic() - began
            if not killer.done():
                killer.cancel()
                killed.append(f"no kill: fewer than {args.kill_after} arrivals")
            header = ["cases", "closed", "events", "accepted", "arrivals", "500s/401s", "duplicates"]
            header += ["invalid", "missing", "out of order", "overtaken", "fault", "seconds"]
            row: list[object] = [args.cases, closed, verdict.events, verdict.accepted, verdict.arrivals]
            row += [verdict.failed_answers, verdict.duplicates, verdict.invalid, len(verdict.missing)]
            row += [len(verdict.out_of_order), len(verdict.overtaken), "; ".join(killed), f"{seconds:.0f}"]
            show("Webhooks under faults (30 % 500s, 10 % slow, one worker SIGKILL)", header, [row])
            for problem in (failures + verdict.missing + verdict.out_of_order + verdict.overtaken)[:20]:
                print("  problem:", problem)
            show(
                "Event feed, 1,000 events a page",
                ["reader", "pages", "events", "p50", "p99", "max"],
                await bench.feed_timing(),
            )
            return (
                verdict.passed
                and not failures
                and closed == args.cases
                and bool(killed)
                and "no kill" not in killed[0]
            )
        finally:
            await bench.close()


async def latency(args: argparse.Namespace) -> bool:
    env = _env() | ({"AFTERSALES_WEBHOOK_RELAY_IN_WORKER": "false"} if args.relay_process else {})
    with (
        preserved_environment(),
        BenchStack(database_url=args.database_url, time_scale=TIME_SCALE, extra_env=env) as stack,
    ):
        if args.relay_process:
            stack.spawn("webhook relay", [sys.executable, "-m", "workers.webhooks"])
        where = "its own process" if args.relay_process else "the worker"
        print(f"[webhooks latency] store: {stack.store_kind}; relay in {where}; state in {stack.dir}")
        bench = Bench(stack)
        try:
            await bench.subscribe()
            case_ids: list[str] = []
            tag = uuid.uuid4().hex[:6]
            total = int(args.rate * args.duration)
            cpu_before = stack.cpu_snapshot()
            began = time.monotonic()

            async def open_case(i: int) -> None:
                await asyncio.sleep(max(began + i / args.rate - time.monotonic(), 0))
                body = case_body(f"O-L{tag}-{i:05d}")
                answer = await bench.api.post(
                    "/v1/cases",
                    json=body,
                    headers=bench.auth("system") | {"Idempotency-Key": f"lat-{tag}-{i}"},
                )
                if answer.status_code in (200, 201):
                    case_ids.append(answer.json()["case_id"])

            await asyncio.gather(*(open_case(i) for i in range(total)))
            opened_in = time.monotonic() - began
            cpu = stack.cpu_between(cpu_before, stack.cpu_snapshot())
            await asyncio.sleep(2)  # the intake events of the last cases are recorded
            verdict = await bench.all_delivered(case_ids, 120)
            events = await asyncio.to_thread(stored_events, stack.database_url, case_ids)
            lags = lags_of(events, await bench.arrivals())
            show(
                f"Webhook lag at {args.rate:g} cases/s opened (event commit → accepted at the receiver)",
                ["cases", "opened in", "events", "delivered", "p50", "p95", "p99", "max"],
                [
                    [len(case_ids), f"{opened_in:.1f} s", verdict.events, len(lags)]
                    + [f"{percentile(lags, p) * 1000:.0f} ms" for p in (50, 95, 99)]
                    + [f"{max(lags, default=0) * 1000:.0f} ms"]
                ],
            )
            queued, sent, calls = await asyncio.to_thread(stages, stack.database_url, case_ids)
            show(
                "Where the lag goes (the store's timestamps)",
                ["stage", "p50", "p99", "max"],
                [
                    [name]
                    + [f"{percentile(v, p) * 1000:.0f} ms" for p in (50, 99)]
                    + [f"{max(v) * 1000:.0f} ms"]
                    for name, v in (
                        ("recorded → queued (feed, fan-out)", queued),
                        ("queued → delivered", sent),
                        ("one HTTP call (attempt latency)", calls),
                    )
                    if v
                ],
            )
            show("CPU while the cases were opened", ["process", "CPU s", "of one core"], cpu.rows())
            show(
                "Event feed, 1,000 events a page",
                ["reader", "pages", "events", "p50", "p99", "max"],
                await bench.feed_timing(),
            )
            return verdict.passed
        finally:
            await bench.close()


def lags_of(events: dict[str, list[tuple[int, datetime]]], arrivals: list[dict[str, Any]]) -> list[float]:
    recorded = {(case_id, seq): at.timestamp() for case_id, rows in events.items() for seq, at in rows}
    lags: dict[tuple[str, int], float] = {}
    for arrival in arrivals:
        key = (arrival["case_id"], arrival["seq"])
        if arrival["status"] == 200 and key in recorded and key not in lags:
            lags[key] = arrival["received_at"] - recorded[key]
    return list(lags.values())


def _env() -> dict[str, str]:
    return {
        "AFTERSALES_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
        "AFTERSALES_WEBHOOK_RETRY_SCALE": RETRY_SCALE,
        "AFTERSALES_WEBHOOK_LEASE_SECONDS": "5",
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["chaos", "latency"])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--kill-after", type=int, default=None, help="webhooks arrived before the worker is killed"
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--patience", type=float, default=300)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--relay-process", action="store_true", help="latency: the webhook relay in a process of its own"
    )
    args = parser.parse_args(argv)
    if args.kill_after is None:
        args.kill_after = max(args.cases * 3, 10)  # about a third of the way (≈ 9 events a case)
    return args


async def run(args: argparse.Namespace) -> bool:
    return await (chaos(args) if args.scenario == "chaos" else latency(args))


def main(argv: list[str] | None = None) -> int:
    return 0 if asyncio.run(run(parse_args(argv))) else 1


if __name__ == "__main__":
    sys.exit(main())
