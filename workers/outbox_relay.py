"""The outbox relay: delivers the notifications that case writes queued in the store's outbox.

At least once, always with the message's idempotency key (the provider dedupes by it). A pass claims
a batch of due messages under a lease in one short transaction, sends each, and records each outcome
in a transaction of its own. A failed send is due again after a backoff; a message still failing
after `max_age` is dead. A worker that dies between a case's commit and the send loses nothing: the
message stays pending (or its lease runs out) and the next relay sends it.

Each worker process runs one relay. It wakes when its own worker queues messages (`wake()`, called
by the record_case_delta activity after its commit), and otherwise polls, for messages other workers
queued and for retries.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from activities.provider_client import ProviderRejected
from core.settings import Settings
from store import messages, outbox
from store.common import utcnow
from store.db import reading
from workers.relay_loop import RelayLoop, doubling_backoff, waited_seconds

log = logging.getLogger(__name__)
PLATFORM = "platform"


class Notifier(Protocol):
    """What the relay sends with (`ProviderClient` in the worker, a fake in tests)."""

    def notify(
        self,
        idempotency_key: str,
        case_id: str,
        recipient_role: str,
        template: str,
        message: str,
        channel: str | None = None,
        to: str | None = None,
    ) -> object: ...


@dataclass(frozen=True)
class RelayPolicy:
    poll: timedelta = timedelta(seconds=1)
    batch_size: int = 20
    concurrency: int = 8  # messages of a batch sent at once (each is one HTTP call that may time out)
    lease: timedelta = timedelta(seconds=120)
    retry_base: timedelta = timedelta(seconds=1)
    retry_max: timedelta = timedelta(seconds=300)
    max_age: timedelta = timedelta(days=1)
    gather: timedelta = timedelta(0)  # after a wake, before the pass (`relay_gather_seconds`)

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayPolicy:
        return cls(
            poll=timedelta(seconds=settings.outbox_poll_seconds),
            gather=timedelta(seconds=settings.relay_gather_seconds),
            batch_size=settings.outbox_batch_size,
            concurrency=settings.outbox_concurrency,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            retry_base=timedelta(seconds=settings.outbox_retry_base_seconds),
            retry_max=timedelta(seconds=settings.outbox_retry_max_seconds),
            max_age=timedelta(seconds=settings.outbox_max_age_seconds),
        )

    def backoff(self, failures: int) -> timedelta:
        """The wait after the n-th failed attempt: base × 2^(n−1), at most retry_max."""
        return doubling_backoff(failures, self.retry_base, self.retry_max)


class RelayMetrics:
    """Prometheus metrics of one relay, in a registry of their own (the worker serves it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.delivered = Counter(
            "aftersales_outbox_delivered", "Notifications delivered", registry=self.registry
        )
        self.failed = Counter(
            "aftersales_outbox_failed_attempts", "Failed delivery attempts", registry=self.registry
        )
        self.dead = Counter(
            "aftersales_outbox_dead", "Notifications given up on (dead)", registry=self.registry
        )
        self.pending = Gauge(
            "aftersales_outbox_pending", "Notifications waiting to be delivered", registry=self.registry
        )
        self.oldest_pending_age = Gauge(
            "aftersales_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting to be delivered (0 when none waits)",
            registry=self.registry,
        )


@dataclass(frozen=True)
class RelayPass:
    """What one pass did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


class OutboxRelay(RelayLoop[RelayPass]):
    relay_name = "outbox relay"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        policy: RelayPolicy | None = None,
        metrics: RelayMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.policy = policy or RelayPolicy()
        self.metrics = metrics or RelayMetrics()
        self._sessions = sessions
        self._reads = reading(sessions)  # on SQLite, reads neither wait for nor hold the writer turn
        self._notifier = notifier
        self._clock = clock
        # The backlog gauges are read from the store when scraped, not after every pass.
        self.metrics.pending.set_function(lambda: self._backlog()[0])
        self.metrics.oldest_pending_age.set_function(lambda: self._backlog()[1])

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], notifier: Notifier
    ) -> OutboxRelay:
        return cls(sessions, notifier, RelayPolicy.from_settings(settings))

    # --- one pass (blocking: the loop runs it in a thread; tests call it directly) ----------------

    def run_once(self) -> RelayPass:
        """Claim the due messages (one batch), send each and record the outcomes.

        Few write transactions per pass (on SQLite every write waits for the one writer): none when
        nothing is due, else the claim, the failures one by one, and every delivery in one. A relay
        that dies before that last one sent messages it did not record: they go again with the same
        idempotency key (at least once)."""
        with self._reads() as session:
            due = outbox.any_due(session, self._clock())
        if not due:
            return RelayPass(claimed=0, delivered=0, failed=0, dead=0)
        with self._sessions.begin() as session:
            claimed = outbox.claim_due(session, self._clock(), self.policy.batch_size, self.policy.lease)
        if len(claimed) > 1 and self.policy.concurrency > 1:
            # One slow or failing provider call must not hold up the rest of the batch.
            with ThreadPoolExecutor(min(self.policy.concurrency, len(claimed))) as pool:
                outcomes = list(pool.map(self._deliver, claimed))
        else:
            outcomes = [self._deliver(message) for message in claimed]
        self._record_delivered([m for m, o in zip(claimed, outcomes, strict=True) if o == outbox.DELIVERED])
        return RelayPass(
            claimed=len(claimed),
            delivered=outcomes.count(outbox.DELIVERED),
            failed=len(outcomes) - outcomes.count(outbox.DELIVERED),
            dead=outcomes.count(outbox.DEAD),
        )

    def _deliver(self, message: outbox.Claimed) -> str:
        """Send one message; its new status. A conversation message's text, channel and address are
        read (unsealed) from the case store just before sending, never kept in the outbox."""
        try:
            text, channel, to = message.message, None, None
            if message.message_id is not None:
                with self._reads() as session:
                    found = messages.outbound_of(session, message.message_id)
                if found is None:
                    raise ProviderRejected(404, f"message {message.message_id} is not in the store")
                text, channel, to = found.text, found.channel, found.to
            self._notifier.notify(
                message.idempotency_key,
                message.case_id or PLATFORM,  # the provider files a message of no case (a report) here
                message.recipient_role,
                message.template,
                text,
                channel=channel,
                to=to,
            )
        except Exception as err:  # any failure is the message's, never the relay's end
            return self._failed(message, err)
        return outbox.DELIVERED

    def _record_delivered(self, delivered: list[outbox.Claimed]) -> None:
        if not delivered:
            return
        now = self._clock()
        with self._sessions.begin() as session:
            outbox.mark_delivered(session, [m.id for m in delivered], now)
            for message in delivered:
                if message.message_id is not None:
                    messages.mark_sent(session, message.message_id, now)
        self.metrics.delivered.inc(len(delivered))

    def _failed(self, message: outbox.Claimed, err: Exception) -> str:
        now = self._clock()
        failures = message.attempts + 1
        # A refusal (4xx) will be refused again; anything else is retried until max_age.
        dead = isinstance(err, ProviderRejected) or now - message.created_at >= self.policy.max_age
        retry_at = now + self.policy.backoff(failures)
        with self._sessions.begin() as session:
            outbox.mark_failed(session, message.id, f"{type(err).__name__}: {err}", retry_at, dead)
            if dead and message.message_id is not None:
                messages.mark_failed(session, message.message_id, f"{type(err).__name__}: {err}")
        self.metrics.failed.inc()
        if dead:
            self.metrics.dead.inc()
            log.error(
                "notification %s is dead after %d attempt(s): %s", message.idempotency_key, failures, err
            )
            return outbox.DEAD
        log.warning(
            "notification %s failed (attempt %d), retrying at %s: %s",
            message.idempotency_key,
            failures,
            retry_at.isoformat(),
            err,
        )
        return outbox.PENDING

    def _backlog(self) -> tuple[float, float]:
        """Messages waiting and the oldest one's wait in seconds; NaN while the store is unreachable
        (a scrape still answers)."""
        try:
            with self._reads() as session:
                summary = outbox.pending_summary(session)
        except SQLAlchemyError:
            return math.nan, math.nan
        return float(summary.count), waited_seconds(self._clock(), summary.oldest_created_at)

    # --- the loop (workers.relay_loop runs the passes) -----------------------------------------

    def busy(self, done: RelayPass) -> bool:
        return done.claimed == self.policy.batch_size

    def poll_seconds(self) -> float:
        return self.policy.poll.total_seconds()

    def gather_seconds(self) -> float:
        return self.policy.gather.total_seconds()
