"""Webhooks end to end without Temporal: the admin API makes subscriptions, the store records case
events as the workflow would, the relay sends them to the provider simulator, which verifies each
signature, records what arrived and fails or slows a share of the arrivals when told to.

The relay runs pass by pass here (`run_once`) on a clock the test moves: a retry schedule of days
is walked in a few passes, and nothing waits on real time but the HTTP calls themselves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.app import create_app
from core.settings import Settings
from core.webhook_net import guarded_client, url_refusal
from domain.webhooks import RETRY_SCHEDULE, TargetPolicy, retry_delay, signed_headers
from simulator.app import FaultConfig
from simulator.app import create_app as create_simulator
from store import progress, webhooks
from store.db import make_engine, make_session_factory
from store.keys import create_api_key
from store.migrate import upgrade
from store.models import OutboxRow, WebhookChangeRow
from tests.store import factories as f
from tests.store.helpers import create
from tests.support.databases import scratch_database
from tests.support.keys import vault_for_tests
from tests.support.servers import run_uvicorn
from tests.support.waiting import until
from workers.webhook_relay import WebhookPolicy, WebhookRelay

HOOKS = "/v1/admin/webhooks"
LOOPBACK = TargetPolicy.parse("", "127.0.0.0/8")


class Clock:
    """The relay's clock: real time plus however far the test moved it."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return f.NOW.now(f.NOW.tzinfo) + self.ahead


class World:
    def __init__(self, client: TestClient, keys: dict[str, str], simulator: str) -> None:
        self.client, self.keys, self.simulator = client, keys, simulator
        self.db: sessionmaker[Session] = client.app.state.ctx.sessions  # type: ignore[attr-defined]
        self.clock = Clock()
        self.sim = httpx.Client(base_url=simulator, timeout=10)

    def call(self, method: str, path: str, role: str = "supervisor", **kwargs: Any) -> httpx.Response:
        if "params" in kwargs:  # a cursor not known yet is no cursor
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        return self.client.request(
            method, path, headers={"Authorization": f"Bearer {self.keys[role]}"}, **kwargs
        )

    def subscribe(self, inbox: str, **body: Any) -> dict[str, Any]:
        answer = self.call("POST", HOOKS, json={"url": f"{self.simulator}/v1/webhooks/{inbox}", **body})
        assert answer.status_code == 201, answer.text
        made = dict(answer.json())
        self.inbox(inbox, made["secret"])
        return made

    def inbox(self, inbox: str, *secrets: str) -> None:
        answer = self.sim.put(f"/v1/admin/webhook-inboxes/{inbox}", json={"secrets": list(secrets)})
        assert answer.status_code == 204, answer.text

    def faults(self, **config: Any) -> None:
        assert self.sim.put("/v1/admin/faults", json=config).status_code == 200

    def arrivals(self, inbox: str) -> list[dict[str, Any]]:
        return list(self.sim.get(f"/v1/webhooks/{inbox}/received").json()["received"])

    def relay(self, policy: WebhookPolicy | None = None, target: TargetPolicy = LOOPBACK) -> WebhookRelay:
        policy = policy or WebhookPolicy(retry_scale=1.0, timeout_seconds=5)
        return WebhookRelay(self.db, guarded_client(target, policy.timeout_seconds), policy, clock=self.clock)

    def case(self, merchant: str = "M-100") -> str:
        return create(self.db, f.case_request(merchant_id=merchant))[0]

    def record(self, cid: str, version: int, *seqs: int, kind: str = "step") -> None:
        with self.db.begin() as session:
            progress.apply_delta(session, f.delta(cid, version, [f.event(cid, s, kind) for s in seqs]))

    def drain(self, relay: WebhookRelay, until: Any, passes: int = 400) -> None:
        """Relay passes, moving the clock past each retry, until `until()` holds (bounded)."""
        for _ in range(passes):
            relay.run_once()
            if until():
                return
            self.clock.ahead += RETRY_SCHEDULE[-1]  # every lane in backoff is due again
        raise AssertionError("the relay did not get there")


@pytest.fixture(scope="module")
def world(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    sim_db = str(tmp_path_factory.mktemp("hooksim") / "ledger.db")
    with (
        scratch_database(tmp_path_factory.mktemp("hooks"), "aftersales_hooks") as url,
        run_uvicorn(create_simulator(sim_db, FaultConfig())) as simulator,
    ):
        upgrade(url)
        engine = make_engine(url)
        keys: dict[str, str] = {}
        with make_session_factory(engine, vault_for_tests()).begin() as session:
            for role in ("system", "supervisor", "agent", "merchant", "ops"):
                keys[role] = create_api_key(session, role, "M-100" if role == "merchant" else None, role)[1]
        engine.dispose()
        app_settings = settings.model_copy(update={"database_url": url, "webhook_allow_cidrs": "127.0.0.0/8"})
        app = create_app(app_settings, client=cast(Client, object()))
        with TestClient(app) as client:
            yield World(client, keys, simulator)


@pytest.fixture(autouse=True)
def alone(world: World) -> Iterator[None]:
    """Each test with its own subscriptions only, and a receiver without faults."""
    with world.db.begin() as session:
        for row in webhooks.list_subscriptions(session):
            webhooks.delete_subscription(session, row, "test", world.clock())
    world.clock.ahead = timedelta(0)
    world.faults()
    yield
    world.faults()


def delivered_in_order(arrivals: list[dict[str, Any]], cid: str) -> list[int]:
    """The seqs of a case's events in the order they were accepted (answered 200)."""
    return [a["seq"] for a in arrivals if a["case_id"] == cid and a["status"] == 200]


# --- the admin API ---------------------------------------------------------------------------------


def test_a_subscription_shows_its_secret_once_and_is_read_listed_changed_and_deleted(world: World) -> None:
    made = world.subscribe("crud", event_kinds=["closed", "refunded"], description="ERP")
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    assert made["event_kinds"] == ["closed", "refunded"]
    path = f"{HOOKS}/{made['id']}"
    read = world.call("GET", path).json()
    assert "secret" not in read and read["pending"] == 0 and read["changes"][0]["action"] == "created"
    assert made["id"] in [s["id"] for s in world.call("GET", HOOKS).json()["items"]]
    changed = world.call("PATCH", path, json={"enabled": False, "description": "ERP (paused)"})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    with world.db() as session:  # sealed at rest: the secret is nowhere in the row
        row = webhooks.get_subscription(session, made["id"])
        assert row is not None and made["secret"] not in str(vars(row))
    assert world.call("DELETE", path).status_code == 204
    assert world.call("GET", path).status_code == 404


def test_only_admins_manage_subscriptions(world: World) -> None:
    for role in ("agent", "merchant", "ops"):
        assert world.call("GET", HOOKS, role=role).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
    ],
)
def test_urls_of_internal_addresses_are_refused_unless_allow_listed(url: str) -> None:
    problem = url_refusal(TargetPolicy(), url)
    assert problem is not None
    if "127.0.0.1" in url:
        assert url_refusal(LOOPBACK, url) is None


def test_the_api_refuses_an_internal_url_with_a_problem_naming_the_field(world: World) -> None:
    answer = world.call("POST", HOOKS, json={"url": "http://10.0.0.7/hook"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == "url" and "10.0.0.7" in answer.json()["detail"]
    unknown_kind = world.call("POST", HOOKS, json={"url": "http://127.0.0.1:9/x", "event_kinds": ["nope"]})
    assert unknown_kind.status_code == 422


# --- delivery --------------------------------------------------------------------------------------


def test_events_arrive_signed_in_order_per_case_and_every_attempt_is_logged(world: World) -> None:
    made = world.subscribe("orderly")
    first, second = world.case(), world.case()
    world.record(first, 1, 1, 2)
    world.record(second, 1, 1)
    world.record(first, 2, 3)
    relay = world.relay()
    world.drain(relay, lambda: len(world.arrivals("orderly")) >= 4)
    arrivals = world.arrivals("orderly")
    assert all(a["valid"] and a["status"] == 200 for a in arrivals)
    assert delivered_in_order(arrivals, first) == [1, 2, 3] and delivered_in_order(arrivals, second) == [1]
    attempts = world.call("GET", f"{HOOKS}/{made['id']}/attempts", params={"limit": 3}).json()
    assert len(attempts["attempts"]) == 3 and attempts["next_cursor"]
    assert all(a["status_code"] == 200 and a["error"] is None for a in attempts["attempts"])
    rest = world.call(
        "GET", f"{HOOKS}/{made['id']}/attempts", params={"cursor": attempts["next_cursor"]}
    ).json()
    assert len(rest["attempts"]) == 1 and rest["next_cursor"] is None


def test_a_failing_event_holds_back_its_case_only_and_is_retried_until_it_arrives(world: World) -> None:
    world.subscribe("flaky")
    world.faults(seed=5, webhook_error_rate=0.5)
    ids = [world.case() for _ in range(6)]
    for cid in ids:
        world.record(cid, 1, 1, 2, 3)
    relay = world.relay()
    world.drain(relay, lambda: sum(a["status"] == 200 for a in world.arrivals("flaky")) >= 18)
    arrivals = world.arrivals("flaky")
    assert any(a["status"] == 500 for a in arrivals)  # the faults happened
    for cid in ids:
        assert delivered_in_order(arrivals, cid) == [1, 2, 3]
        # Head of line: no later event of the case arrived before the earlier one was accepted.
        firsts: dict[int, int] = {}
        for index, a in enumerate(a for a in arrivals if a["case_id"] == cid):
            firsts.setdefault(a["seq"], index)
        accepted = {
            a["seq"]: i
            for i, a in enumerate(a for a in arrivals if a["case_id"] == cid)
            if a["status"] == 200
        }
        assert firsts[2] > accepted[1] and firsts[3] > accepted[2]


def test_only_the_kinds_asked_for_are_sent(world: World) -> None:
    world.subscribe("kinds", event_kinds=["closed"])
    cid = world.case()
    world.record(cid, 1, 1)
    world.record(cid, 2, 2, kind="closed")
    world.drain(world.relay(), lambda: len(world.arrivals("kinds")) >= 1)
    assert [(a["seq"], a["kind"]) for a in world.arrivals("kinds")] == [(2, "closed")]


def test_a_subscription_failing_for_three_days_is_disabled_and_ops_are_told(world: World) -> None:
    made = world.subscribe("down")
    world.faults(webhook_error_rate=1.0)
    cid = world.case()
    world.record(cid, 1, 1)
    relay = world.relay()

    def disabled() -> bool:
        with world.db() as session:
            row = webhooks.get_subscription(session, made["id"])
            return row is not None and not row.enabled

    world.drain(relay, disabled)
    attempts = world.call("GET", f"{HOOKS}/{made['id']}/attempts", params={"limit": 100}).json()["attempts"]
    assert len(attempts) == len(RETRY_SCHEDULE) + 1 and all(a["status_code"] == 500 for a in attempts)
    spent = sum((retry_delay(n) or timedelta(0) for n in range(1, len(RETRY_SCHEDULE) + 1)), timedelta(0))
    assert spent > timedelta(days=3)
    detail = world.call("GET", f"{HOOKS}/{made['id']}").json()
    assert detail["enabled"] is False and "msg_" in detail["disabled_reason"]
    assert detail["changes"][0]["action"] == "disabled"
    with world.db() as session:
        told = session.scalars(select(OutboxRow).where(OutboxRow.template == "webhook_disabled")).all()
        assert {m.recipient_role for m in told} == {"ops", "supervisor"}
        assert all(made["id"] in m.message for m in told)

    # Fixed at the receiver, enabled again, the failed event replayed from its attempt's cursor.
    world.faults()
    world.call("PATCH", f"{HOOKS}/{made['id']}", json={"enabled": True})
    answer = world.call("POST", f"{HOOKS}/{made['id']}/redeliver", params={"from": attempts[-1]["cursor"]})
    assert answer.status_code == 202, answer.text
    world.drain(relay, lambda: any(a["status"] == 200 for a in world.arrivals("down")))
    with world.db() as session:
        actions = session.scalars(
            select(WebhookChangeRow.action).where(WebhookChangeRow.subscription_id == made["id"])
        ).all()
        assert {"created", "disabled", "updated", "redelivery"} <= set(actions)


def test_during_a_rotation_both_secrets_sign_and_after_it_only_the_new_one(world: World) -> None:
    made = world.subscribe("rotating")
    path = f"{HOOKS}/{made['id']}/rotate-secret"
    rotated = world.call("POST", path, json={"overlap_seconds": 3600}).json()
    assert rotated["secret"] != made["secret"]
    world.inbox("rotating", made["secret"])  # a receiver that has not switched yet
    cid = world.case()
    world.record(cid, 1, 1)
    relay = world.relay()
    world.drain(relay, lambda: len(world.arrivals("rotating")) >= 1)
    assert world.arrivals("rotating")[0]["valid"] is True
    world.inbox("rotating", rotated["secret"])  # switched
    world.record(cid, 2, 2)
    world.drain(relay, lambda: len(world.arrivals("rotating")) >= 2)
    assert world.arrivals("rotating")[1]["valid"] is True
    # After the overlap the old secret signs nothing: a receiver still on it refuses (401).
    with world.db() as session:
        row = webhooks.get_subscription(session, made["id"])
        assert row is not None
        later = world.clock() + timedelta(hours=2)
        assert webhooks.signing_secrets(session, row, later) == [rotated["secret"]]
    headers = signed_headers("msg_1", later, b"{}", [rotated["secret"]])
    assert made["secret"] not in headers["webhook-signature"]


def test_a_relay_that_died_holding_lanes_loses_nothing(world: World) -> None:
    world.subscribe("crash")
    cid = world.case()
    world.record(cid, 1, 1, 2)
    dead = world.relay()
    with world.db.begin() as session:  # what a relay SIGKILLed right after its claim leaves
        webhooks.fan_out(session, world.clock(), 100)
    with world.db.begin() as session:
        assert webhooks.claim_lanes(session, world.clock(), 50, dead.policy.lease)
    other = world.relay()
    assert other.run_once().delivered == 0  # leased: not taken while the lease runs
    world.clock.ahead += dead.policy.lease + timedelta(seconds=1)
    world.drain(other, lambda: len(world.arrivals("crash")) >= 2)
    assert delivered_in_order(world.arrivals("crash"), cid) == [1, 2]


def test_the_relay_refuses_an_address_that_became_internal(world: World) -> None:
    """DNS rebinding: the subscription was allowed when made; the relay's own policy refuses the
    address it resolves now, and never connects."""
    made = world.subscribe("rebound")
    cid = world.case()
    world.record(cid, 1, 1)
    strict = world.relay(target=TargetPolicy())
    started = time.monotonic()
    strict.run_once()
    attempts = world.call("GET", f"{HOOKS}/{made['id']}/attempts").json()["attempts"]
    assert attempts and attempts[0]["status_code"] is None and "127.0.0.1" in attempts[0]["error"]
    assert world.arrivals("rebound") == [] and time.monotonic() - started < 5


def test_the_feed_over_http_pages_every_case_and_shows_a_merchant_its_own_only(world: World) -> None:
    start = world.call("GET", "/v1/events", role="agent", params={"limit": 1000})
    cursor = start.json()["next_cursor"]
    while start.json()["has_more"]:  # to the feed's end
        start = world.call("GET", "/v1/events", role="agent", params={"after": cursor, "limit": 1000})
        cursor = start.json()["next_cursor"]
    ours, theirs = world.case("M-100"), world.case("M-200")
    world.record(ours, 1, 1, 2)
    world.record(theirs, 1, 1)
    seen = []
    after = cursor
    while True:
        page = world.call("GET", "/v1/events", role="agent", params={"after": after, "limit": 1}).json()
        seen += page["events"]
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [(e["case_id"], e["seq"]) for e in seen] == [(ours, 1), (ours, 2), (theirs, 1)]
    assert set(seen[0]) >= {"case_id", "seq", "kind", "step", "at", "actor_role", "payload", "cursor"}
    merchant = world.call("GET", "/v1/events", role="merchant", params={"after": cursor}).json()
    assert [e["case_id"] for e in merchant["events"]] == [ours, ours]
    other = world.call("GET", "/v1/events", role="merchant", params={"after": cursor, "merchant_id": "M-200"})
    assert other.json()["events"] == []
    closed_only = world.call("GET", "/v1/events", role="agent", params={"after": cursor, "kinds": "closed"})
    assert closed_only.json()["events"] == []
    assert world.call("GET", "/v1/events", role="agent", params={"after": "bm9wZQ"}).status_code == 422


async def test_the_relay_loop_sends_on_a_wake_without_waiting_for_its_poll(world: World) -> None:
    world.subscribe("looping")
    policy = WebhookPolicy(poll=timedelta(seconds=30), timeout_seconds=5)  # a poll that never comes
    relay = WebhookRelay(world.db, guarded_client(LOOPBACK, 5), policy)
    cid = world.case()
    async with relay.running():
        world.record(cid, 1, 1, 2)
        relay.wake()  # what the worker's store write does once it committed
        await until("both events delivered", lambda: len(world.arrivals("looping")) >= 2)
    assert delivered_in_order(world.arrivals("looping"), cid) == [1, 2]
    relay.close()


def test_the_simulator_refuses_a_bad_signature_and_rolls_its_faults_by_webhook_and_attempt(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from simulator.webhooks import roll
    from store.common import utcnow
    from store.webhooks import new_secret

    secret, other = new_secret(), new_secret()
    app = create_simulator(str(tmp_path_factory.mktemp("sim") / "l.db"), FaultConfig())
    with TestClient(app) as sim:
        assert sim.put("/v1/admin/webhook-inboxes/t", json={"secrets": [secret]}).status_code == 204
        body = b'{"type":"case.step","timestamp":"t","data":{"case_id":"AS1","seq":1}}'
        good = signed_headers("msg_1", utcnow(), body, [secret])
        bad = signed_headers("msg_2", utcnow(), body, [other])
        assert sim.post("/v1/webhooks/t", content=body, headers=good).status_code == 200
        assert sim.post("/v1/webhooks/t", content=body, headers=bad).status_code == 401
        assert sim.post("/v1/webhooks/nobody", content=body, headers=good).status_code == 404
        received = sim.get("/v1/webhooks/t/received").json()["received"]
        assert [(r["webhook_id"], r["valid"], r["status"]) for r in received] == [
            ("msg_1", True, 200),
            ("msg_2", False, 401),
        ]
        sim.put("/v1/admin/faults", json={"seed": 3, "webhook_error_rate": 0.5})
        answers = [sim.post("/v1/webhooks/t", content=body, headers=good).status_code for _ in range(8)]
        # Attempts 2..9 of msg_1: each rolls its own die, the same on every run with this seed.
        assert answers == [500 if roll(3, "msg_1", n, "error") < 0.5 else 200 for n in range(2, 10)]
        assert set(answers) == {200, 500}
