"""The outbox relay delivers the notifications a case's store write queued: at least once, with the
message's idempotency key, retried with backoff, dead after a maximum age, safe with several relays,
and nothing lost when a worker dies between the commit and the send.

The relay's clock is frozen and moved by hand, and passes are driven with `run_once()`: no test
waits on time passing (the one that runs the relay's loop waits on the delivery itself).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from activities import contracts as c
from activities.provider_client import ProviderClient, ProviderRejected, ProviderUnavailable
from core.settings import Settings
from store import outbox, progress
from store.common import utcnow
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from store.models import OutboxRow
from tests.store import factories as f
from tests.store.helpers import create
from tests.support.databases import scratch_database
from tests.support.keys import TEST_CODEC_KEYS, TEST_LOOKUP_HASH_KEY, vault_for_tests
from tests.support.servers import free_port
from workers.build import activities_by_name
from workers.metrics import serve_metrics
from workers.outbox_relay import OutboxRelay, RelayPass, RelayPolicy

POLICY = RelayPolicy(
    poll=timedelta(hours=1),  # a relay that delivers within a test was woken, not polled
    batch_size=10,
    lease=timedelta(seconds=60),
    retry_base=timedelta(seconds=1),
    retry_max=timedelta(seconds=3),
    max_age=timedelta(hours=1),
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """A database of its own: a relay claims every due message, so no other test may queue here."""
    with scratch_database(tmp_path_factory.mktemp("outbox"), "aftersales_outbox") as url:
        upgrade(url)
        engine = make_engine(url)
        yield make_session_factory(engine, vault_for_tests())
        engine.dispose()


@pytest.fixture(autouse=True)
def empty_outbox(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        session.execute(delete(OutboxRow))


class Messaging:
    """The messaging provider: records what it was sent, fails the sends it was told to fail."""

    def __init__(self, *failures: Exception) -> None:
        self.sent: list[str] = []
        self.failures = list(failures)
        self.deliveries: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def notify(
        self,
        idempotency_key: str,
        case_id: str,
        recipient_role: str,
        template: str,
        message: str,
        channel: str | None = None,
        to: str | None = None,
    ) -> None:
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append(idempotency_key)
        self.deliveries.put(idempotency_key)


class Clock:
    """Frozen at a moment after the test queued its messages (so they are due); moved by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def queue_messages(db: sessionmaker[Session], n: int) -> list[str]:
    """One case's store write with n notifications; their keys."""
    cid, _ = create(db, f.case_request())
    messages = [f.message(cid, i) for i in range(1, n + 1)]
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, [f.event(cid, 1)], notifications=messages))
    return [m.idempotency_key for m in messages]


def stored(db: sessionmaker[Session], key: str) -> OutboxRow:
    with db() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.idempotency_key == key))
        assert row is not None
        return row


def relay_for(
    db: sessionmaker[Session], messaging: Messaging, clock: Clock, policy: RelayPolicy = POLICY
) -> OutboxRelay:
    return OutboxRelay(db, messaging, policy, clock=clock)


def metric(relay: OutboxRelay, name: str) -> float | None:
    return relay.metrics.registry.get_sample_value(name)


def test_each_queued_message_is_delivered_once_with_its_key(db: sessionmaker[Session]) -> None:
    keys = queue_messages(db, 2) + queue_messages(db, 1)
    messaging, clock = Messaging(), Clock()
    relay = relay_for(db, messaging, clock)
    assert relay.run_once() == RelayPass(claimed=3, delivered=3)
    assert relay.run_once() == RelayPass()
    assert sorted(messaging.sent) == sorted(keys)
    for key in keys:
        row = stored(db, key)
        assert (row.status, row.attempts, row.delivered_at, row.claimed_until) == (
            "delivered",
            0,
            clock.now,
            None,
        )


def test_a_failed_delivery_is_retried_after_a_backoff_that_doubles_up_to_its_cap(
    db: sessionmaker[Session],
) -> None:
    assert [POLICY.backoff(n).total_seconds() for n in (1, 2, 3, 4, 50)] == [1, 2, 3, 3, 3]
    [key] = queue_messages(db, 1)
    down = ProviderUnavailable("POST /v1/notifications: HTTP 503: try later", 503)
    messaging, clock = Messaging(down, down), Clock()
    relay = relay_for(db, messaging, clock)
    assert relay.run_once() == RelayPass(claimed=1, failed=1)
    row = stored(db, key)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, clock.now + timedelta(seconds=1))
    assert row.last_error == "ProviderUnavailable: POST /v1/notifications: HTTP 503: try later"
    assert relay.run_once() == RelayPass()  # not due yet
    clock.advance(timedelta(seconds=1))
    assert relay.run_once() == RelayPass(claimed=1, failed=1)
    assert stored(db, key).next_attempt_at == clock.now + timedelta(seconds=2)
    clock.advance(timedelta(seconds=2))
    assert relay.run_once() == RelayPass(claimed=1, delivered=1)
    assert messaging.sent == [key] and stored(db, key).attempts == 2


def test_a_message_committed_while_no_relay_ran_is_delivered_by_the_next_relay(
    db: sessionmaker[Session],
) -> None:
    [key] = queue_messages(db, 1)  # the worker died right after this commit: no relay ever saw it
    messaging = Messaging()
    assert relay_for(db, messaging, Clock()).run_once() == RelayPass(claimed=1, delivered=1)
    assert messaging.sent == [key]


def test_a_message_whose_relay_died_holding_it_is_delivered_once_the_lease_ends(
    db: sessionmaker[Session],
) -> None:
    [key] = queue_messages(db, 1)
    clock = Clock()
    with db.begin() as session:  # a relay claims it, then its process is killed before the send
        assert [m.idempotency_key for m in outbox.claim_due(session, clock.now, 10, POLICY.lease)] == [key]
    messaging = Messaging()
    relay = relay_for(db, messaging, clock)
    assert relay.run_once() == RelayPass()  # leased: the other relay may still be sending it
    clock.advance(POLICY.lease)
    assert relay.run_once() == RelayPass(claimed=1, delivered=1)
    assert messaging.sent == [key]


def test_two_relays_passing_at_once_never_deliver_the_same_message_twice(db: sessionmaker[Session]) -> None:
    keys = [key for _ in range(8) for key in queue_messages(db, 5)]
    messaging, clock = Messaging(), Clock()
    policy = RelayPolicy(batch_size=3, lease=POLICY.lease)
    relays = [relay_for(db, messaging, clock, policy) for _ in range(2)]
    start = threading.Barrier(2)

    def drain(relay: OutboxRelay) -> int:
        start.wait(timeout=30)
        delivered = 0
        while done := relay.run_once().delivered:
            delivered += done
        return delivered

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(drain, relays))
    assert sorted(messaging.sent) == sorted(keys) and sum(counts) == len(keys)


def test_a_claim_skips_the_messages_another_relay_is_claiming_instead_of_waiting(
    db: sessionmaker[Session],
) -> None:
    if db.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; on SQLite claims take turns on the single writer")
    keys = queue_messages(db, 5)
    now = utcnow()
    claimed_first, first_holds = threading.Event(), threading.Event()

    def first() -> list[str]:
        with db.begin() as session:
            held = outbox.claim_due(session, now, 2, POLICY.lease)
            claimed_first.set()
            first_holds.wait(timeout=30)  # its rows stay locked until the second has claimed
        return [m.idempotency_key for m in held]

    def second() -> list[str]:
        claimed_first.wait(timeout=30)
        with db.begin() as session:
            session.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting would fail, not hang
            taken = outbox.claim_due(session, now, 10, POLICY.lease)
        first_holds.set()
        return [m.idempotency_key for m in taken]

    with ThreadPoolExecutor(2) as pool:
        held, taken = pool.submit(first), pool.submit(second)
        held_keys, taken_keys = held.result(timeout=60), taken.result(timeout=60)
    assert held_keys == keys[:2] and taken_keys == keys[2:]


def test_a_message_still_failing_after_its_maximum_age_is_dead_and_never_tried_again(
    db: sessionmaker[Session],
) -> None:
    [key] = queue_messages(db, 1)
    messaging, clock = Messaging(ProviderUnavailable("unreachable")), Clock()
    clock.advance(POLICY.max_age)  # e.g. the messaging provider was down for a day
    relay = relay_for(db, messaging, clock)
    assert relay.run_once() == RelayPass(claimed=1, failed=1, dead=1)
    assert (stored(db, key).status, metric(relay, "aftersales_outbox_dead_total")) == ("dead", 1.0)
    clock.advance(timedelta(days=7))
    assert relay.run_once() == RelayPass() and messaging.sent == []


def test_a_message_the_provider_refuses_is_dead_at_once(db: sessionmaker[Session]) -> None:
    [key] = queue_messages(db, 1)
    refused = ProviderRejected(409, "Idempotency-Key reused with a different request")
    relay = relay_for(db, Messaging(refused), Clock())
    assert relay.run_once() == RelayPass(claimed=1, failed=1, dead=1)
    assert stored(db, key).status == "dead"


def test_metrics_follow_deliveries_failures_and_the_backlog(db: sessionmaker[Session]) -> None:
    first, _, _ = queue_messages(db, 3)
    messaging, clock = Messaging(ProviderUnavailable("unreachable")), Clock()
    relay = relay_for(db, messaging, clock, RelayPolicy(batch_size=1, retry_base=timedelta(minutes=1)))
    created = stored(db, first).created_at
    clock.advance(timedelta(seconds=30))
    assert metric(relay, "aftersales_outbox_pending") == 3
    assert (
        metric(relay, "aftersales_outbox_oldest_pending_age_seconds") == (clock.now - created).total_seconds()
    )
    relay.run_once()  # the first fails
    relay.run_once()  # the second is delivered
    assert metric(relay, "aftersales_outbox_failed_attempts_total") == 1
    assert metric(relay, "aftersales_outbox_delivered_total") == 1
    assert metric(relay, "aftersales_outbox_pending") == 2
    while relay.run_once().claimed:
        pass
    clock.advance(timedelta(minutes=1))
    relay.run_once()
    assert metric(relay, "aftersales_outbox_delivered_total") == 3
    assert metric(relay, "aftersales_outbox_pending") == 0
    assert metric(relay, "aftersales_outbox_oldest_pending_age_seconds") == 0
    assert metric(relay, "aftersales_outbox_dead_total") == 0


async def test_a_store_write_with_messages_wakes_its_workers_relay_which_sends_them_at_once(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    messaging = Messaging()
    relay = OutboxRelay(db, messaging, POLICY)  # it polls hourly: only a wake explains a delivery
    with ProviderClient("http://127.0.0.1:9") as unused:
        record_delta = activities_by_name(db, unused, relay.wake)[c.RECORD_DELTA]
    first, second = f.message(cid, 1, "merchant", "verify_claim"), f.message(cid, 2, "customer", "proposal")
    async with relay.running():
        for version, message in enumerate((first, second), start=1):
            delta = f.delta(cid, version, [f.event(cid, version)], notifications=[message])
            await asyncio.to_thread(ActivityEnvironment().run, record_delta, delta)
            # The first may also go out in the relay's opening pass; the second comes after the pass
            # that sent the first, while the relay waits an hour for its next poll.
            assert await asyncio.to_thread(messaging.deliveries.get, timeout=30) == message.idempotency_key
    assert messaging.sent == [first.idempotency_key, second.idempotency_key]
    assert stored(db, second.idempotency_key).status == "delivered"


def test_the_worker_serves_the_relay_metrics_and_a_taken_port_does_not_stop_it(
    db: sessionmaker[Session],
) -> None:
    relay = OutboxRelay(db, Messaging(), POLICY)
    settings = Settings(worker_metrics_port=free_port())
    server = serve_metrics(settings, relay.metrics.registry)
    assert server is not None
    try:
        page = httpx.get(f"http://127.0.0.1:{settings.worker_metrics_port}/metrics", timeout=10).text
        assert "aftersales_outbox_pending " in page and "aftersales_outbox_dead_total " in page
        assert serve_metrics(settings, relay.metrics.registry) is None  # a second worker on this host
    finally:
        server.shutdown()
        server.server_close()


def test_a_message_sent_twice_reaches_the_messaging_simulator_once(
    db: sessionmaker[Session], provider: ProviderClient, simulator_url: str
) -> None:
    [key] = queue_messages(db, 1)
    relay = OutboxRelay(db, provider, POLICY, clock=Clock())
    assert relay.run_once() == RelayPass(claimed=1, delivered=1)
    with db.begin() as session:  # as if its relay died after the send, before recording it
        session.execute(update(OutboxRow).where(OutboxRow.idempotency_key == key).values(status="pending"))
    assert relay.run_once() == RelayPass(claimed=1, delivered=1)
    ledger = httpx.get(
        f"{simulator_url}/v1/ledger", params={"case_id": stored(db, key).case_id, "kind": "notification"}
    ).json()
    assert [(entry["idempotency_key"], entry["attempts"]) for entry in ledger["entries"]] == [(key, 2)]


def test_a_relay_in_a_process_of_its_own_delivers_what_a_store_write_queued_and_stops_on_sigterm(
    db: sessionmaker[Session], simulator_url: str, tmp_path: Path
) -> None:
    """`python -m workers.outbox` (make run's and docker compose's layout): no worker wakes it, it
    finds the message by polling, sends it once with its key, records it, and ends on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_") and k != "DATABASE_URL"}
    env |= {
        "DATABASE_URL": db.kw["bind"].url.render_as_string(hide_password=False),
        "AFTERSALES_PROVIDER_BASE_URL": simulator_url,
        "AFTERSALES_CODEC_KEYS": TEST_CODEC_KEYS,
        "AFTERSALES_LOOKUP_HASH_KEY": TEST_LOOKUP_HASH_KEY,
        "AFTERSALES_LOCAL_DIR": str(tmp_path),
        "AFTERSALES_OUTBOX_POLL_SECONDS": "0.1",
        "AFTERSALES_WORKER_METRICS_PORT": "0",
    }
    log = tmp_path / "relay.log"
    with log.open("wb") as out:
        relay = subprocess.Popen(
            [sys.executable, "-m", "workers.outbox"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        [key] = queue_messages(db, 1)
        deadline = time.monotonic() + 60
        while stored(db, key).status != "delivered":
            assert relay.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not delivered in 60 s:\n{log.read_text()}"
            time.sleep(0.05)
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=30) == 0, log.read_text()
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    ledger = httpx.get(
        f"{simulator_url}/v1/ledger", params={"case_id": stored(db, key).case_id, "kind": "notification"}
    ).json()
    assert [(entry["idempotency_key"], entry["attempts"]) for entry in ledger["entries"]] == [(key, 1)]
    assert "outbox relay stopped" in log.read_text()


class Gate:
    """A provider whose first call hangs until the last of the batch arrives: one slow call must not
    hold up the others (with messages sent one after another, the first would wait forever)."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.arrived = threading.Semaphore(0)
        self.last_came = threading.Event()
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def notify(
        self,
        idempotency_key: str,
        case_id: str,
        recipient_role: str,
        template: str,
        message: str,
        channel: str | None = None,
        to: str | None = None,
    ) -> None:
        with self._lock:
            self.sent.append(idempotency_key)
            first, last = len(self.sent) == 1, len(self.sent) == self.batch
        if last:
            self.last_came.set()
        if first and not self.last_came.wait(timeout=30):
            raise ProviderUnavailable("the rest of the batch never came: sent one at a time")


def test_a_slow_provider_call_does_not_hold_up_the_rest_of_the_batch(db: sessionmaker[Session]) -> None:
    keys = queue_messages(db, 4)
    gate = Gate(batch=4)
    policy = dataclasses.replace(POLICY, concurrency=4)
    relay = OutboxRelay(db, gate, policy, clock=Clock())
    assert relay.run_once() == RelayPass(claimed=4, delivered=4)
    assert sorted(gate.sent) == sorted(keys)
