"""The webhook relay: sends the event feed to the webhook subscriptions, signed, in order per case,
at least once (DESIGN §11). Each worker runs one; several share the work through the store.

A pass (1) fans the feed's new events out into deliveries (store.webhooks.fan_out), (2) leases a
batch of due lanes (one lane: one subscription × one case) and (3) sends each lane's pending
deliveries in order, lanes side by side in threads, stopping a lane at its first failure. A failed
head is tried again after 5 s, 5 min, 30 min, 2 h, 5 h and then every 10 h (over three days in
all, scaled by AFTERSALES_WEBHOOK_RETRY_SCALE); when the schedule is spent the delivery is failed,
the subscription disabled and ops and the supervisors are told (outbox) — audited in its changes.

Every attempt is a row (status, latency, an excerpt of the answer, the error). Every HTTP call has a
timeout and goes through core.webhook_net, which refuses private, loopback and link-local addresses
resolved at connect time unless allow-listed (DNS rebinding). Nothing lives only in memory: a
SIGKILLed relay's lanes are taken over when their lease ends, and their heads are sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.webhook_net import guarded_client
from domain.enums import Actor
from domain.webhooks import TargetPolicy, body_of, retry_delay, signed_headers, webhook_id
from store import feed, webhooks
from store.common import utcnow
from store.db import reading
from workers.relay_loop import RelayLoop, waited_seconds

log = logging.getLogger(__name__)
READER = Actor.OPS  # what a webhook carries: an event as ops may read it (no customer personal data)
PER_LANE = 20  # deliveries of one lane sent in one pass


@dataclass(frozen=True)
class WebhookPolicy:
    poll: timedelta = timedelta(seconds=0.25)
    batch_size: int = 50
    concurrency: int = 16
    lease: timedelta = timedelta(seconds=60)
    timeout_seconds: float = 10.0
    retry_scale: float = 1.0
    fan_out_limit: int = 1000  # feed events queued per subscription per pass
    gather: timedelta = timedelta(0)  # after a wake, before the pass (`relay_gather_seconds`)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        return cls(
            poll=timedelta(seconds=settings.webhook_poll_seconds),
            gather=timedelta(seconds=settings.relay_gather_seconds),
            batch_size=settings.webhook_batch_size,
            concurrency=settings.webhook_concurrency,
            lease=timedelta(seconds=settings.webhook_lease_seconds),
            timeout_seconds=settings.webhook_timeout_seconds,
            retry_scale=settings.webhook_retry_scale,
        )


def target_policy(settings: Settings) -> TargetPolicy:
    return TargetPolicy.parse(settings.webhook_allow_hosts, settings.webhook_allow_cidrs)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.delivered = Counter("aftersales_webhook_delivered", "Webhooks delivered", registry=self.registry)
        self.failed = Counter(
            "aftersales_webhook_failed_attempts", "Failed webhook attempts", registry=self.registry
        )
        self.disabled = Counter(
            "aftersales_webhook_subscriptions_disabled",
            "Subscriptions disabled after their retries ran out",
            registry=self.registry,
        )
        self.lag = Histogram(
            "aftersales_webhook_lag_seconds",
            "From an event's commit to its webhook's successful delivery",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
            registry=self.registry,
        )
        self.pending = Gauge(
            "aftersales_webhook_pending", "Webhook deliveries waiting to be sent", registry=self.registry
        )
        self.oldest_pending_age = Gauge(
            "aftersales_webhook_oldest_pending_age_seconds",
            "Age of the oldest webhook delivery waiting (0 when none waits)",
            registry=self.registry,
        )


@dataclass(frozen=True)
class WebhookPass:
    queued: int = 0
    lanes: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _LaneWork:
    lane: webhooks.Lane
    url: str
    secrets: list[str]
    items: list[tuple[webhooks.Pending, feed.FeedEvent]]


@dataclass(frozen=True)
class _Attempt:
    item: webhooks.Pending
    event: feed.FeedEvent
    msg_id: str
    sent_at: datetime
    done_at: datetime
    status: int | None
    latency_ms: int
    excerpt: str
    error: str | None


@dataclass
class _LaneResult:
    lane: webhooks.Lane
    attempts: list[_Attempt] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    retry_at: datetime | None = None  # None: nothing failed
    gave_up: bool = False


class WebhookRelay(RelayLoop[WebhookPass]):
    relay_name = "webhook relay"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: httpx.Client,
        policy: WebhookPolicy | None = None,
        metrics: WebhookMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.policy = policy or WebhookPolicy()
        self.metrics = metrics or WebhookMetrics()
        self._sessions = sessions
        self._reads = reading(sessions)  # on SQLite, reads neither wait for nor hold the writer turn
        self._client = client
        self._clock = clock
        self._pool = ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="webhook")
        self._observed = 0.0

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], registry: CollectorRegistry | None = None
    ) -> WebhookRelay:
        policy = WebhookPolicy.from_settings(settings)
        client = guarded_client(target_policy(settings), policy.timeout_seconds)
        return cls(sessions, client, policy, WebhookMetrics(registry))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    # --- one pass (blocking: the loop runs it in a thread; tests call it directly) ----------------

    def run_once(self) -> WebhookPass:
        """One pass: fan out and lease in one transaction, read what to send in one session, send
        (lanes side by side, each in order), then record every outcome in one transaction. Few
        transactions per pass, not one per webhook: on SQLite every write waits for the one writer.
        A relay that dies before the last step sent webhooks it did not record: they go again
        (at least once; receivers dedupe by webhook-id). Without an enabled subscription a pass
        only reads: the relay wakes after every store write, and most platforms start with none."""
        with self._reads() as session:
            enabled = webhooks.any_enabled(session)
        if not enabled:
            self._observe_backlog()
            return WebhookPass(queued=0)
        with self._sessions.begin() as session:
            queued = webhooks.fan_out(session, self._clock(), self.policy.fan_out_limit)
            lanes = webhooks.claim_lanes(session, self._clock(), self.policy.batch_size, self.policy.lease)
        if not lanes:
            self._observe_backlog()
            return WebhookPass(queued=queued)
        work = self._load(lanes)
        results = list(self._pool.map(self._send_lane, work))
        self._record(results)
        self._observe_backlog()
        return WebhookPass(
            queued=queued,
            lanes=len(lanes),
            delivered=sum(r.delivered for r in results),
            failed=sum(r.failed for r in results),
        )

    def _load(self, lanes: list[webhooks.Lane]) -> list[_LaneWork]:
        """What each leased lane has to send: its pending deliveries with their events (as ops may
        see them), the subscription's URL and signing secrets."""
        now = self._clock()
        with self._reads() as session:
            pending = webhooks.pending_of_lanes(session, lanes, PER_LANE)
            subscriptions = {lane.subscription_id for lane in lanes}
            targets: dict[str, tuple[str, list[str]]] = {}
            for subscription_id in subscriptions:
                row = webhooks.get_subscription(session, subscription_id)
                if row is not None:
                    targets[subscription_id] = (row.url, webhooks.signing_secrets(session, row, now))
            event_ids = [p.event_id for items in pending.values() for p in items]
            rows = feed.event_rows(session, event_ids)
            events = {e.event_id: e for e in feed.as_seen_by(session, rows, READER)}
        work = []
        for lane in lanes:
            url, secrets = targets.get(lane.subscription_id, ("", []))
            items = [(p, events[p.event_id]) for p in pending.get(lane, []) if p.event_id in events]
            work.append(_LaneWork(lane, url, secrets, items if url else []))
        return work

    def _send_lane(self, work: _LaneWork) -> _LaneResult:
        """Send a lane's deliveries in order; stop at the first failure (head of line), and before
        the lane's lease is half gone (another relay may take it over after the lease)."""
        result = _LaneResult(work.lane)
        began = time.monotonic()
        for item, event in work.items:
            attempt = self._attempt(work, item, event)
            result.attempts.append(attempt)
            if attempt.error is not None:
                result.failed += 1
                delay = retry_delay(item.attempts + 1, self.policy.retry_scale)
                result.retry_at = attempt.done_at + (delay or timedelta(0))
                result.gave_up = delay is None
                break
            result.delivered += 1
            if time.monotonic() - began > self.policy.lease.total_seconds() / 2:
                break
        return result

    def _attempt(self, work: _LaneWork, item: webhooks.Pending, event: feed.FeedEvent) -> _Attempt:
        """One HTTP call (never raises): what came back, or why nothing did."""
        msg_id = webhook_id(event.event_id)
        body = body_of(event.document())
        sent_at = self._clock()
        # webhook-timestamp is wall time, whatever clock schedules the retries (receivers check it).
        headers = signed_headers(msg_id, utcnow(), body, work.secrets)
        started = time.perf_counter()
        status: int | None = None
        excerpt, error = "", None
        try:
            answer = self._client.post(work.url, content=body, headers=headers)
            status, excerpt = answer.status_code, answer.text[: webhooks.MAX_EXCERPT]
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}"
        except Exception as err:  # a bug or an odd URL must not end the relay: it is the attempt's
            error = f"{type(err).__name__}: {err}"
        latency_ms = round((time.perf_counter() - started) * 1000)
        return _Attempt(item, event, msg_id, sent_at, self._clock(), status, latency_ms, excerpt, error)

    def _record(self, results: list[_LaneResult]) -> None:
        """Every attempt, delivery, give-up and lane release of the pass, in one transaction."""
        now = self._clock()
        outcome = webhooks.PassOutcome()
        for result in results:
            lane = result.lane
            for a in result.attempts:
                outcome.attempts.append(
                    {
                        "subscription_id": lane.subscription_id,
                        "delivery_id": a.item.delivery_id,
                        "webhook_id": a.msg_id,
                        "case_id": a.event.case_id,
                        "attempt": a.item.attempts + 1,
                        "at": a.sent_at,
                        "status_code": a.status,
                        "latency_ms": a.latency_ms,
                        "response_excerpt": a.excerpt[: webhooks.MAX_EXCERPT],
                        "error": a.error[: webhooks.MAX_EXCERPT] if a.error else None,
                        "cursor": a.event.before,
                    }
                )
                if a.error is None:
                    outcome.delivered.append(a.item.delivery_id)
                elif result.gave_up:
                    outcome.given_up.append(a.item.delivery_id)
                else:
                    outcome.failed.append(a.item.delivery_id)
            if result.gave_up:
                last = result.attempts[-1]
                reason = (
                    f"{last.msg_id} failed {last.item.attempts + 1} times over 3 days; last: {last.error}"
                )
                outcome.disabled[lane.subscription_id] = reason
            outcome.releases[lane] = None if result.gave_up else result.retry_at
        # Short: a writing transaction holds the event feed back (store.feed) while it is open.
        with self._sessions.begin() as session:
            webhooks.record_pass(session, outcome, now)
        for result in results:
            for a in result.attempts:
                if a.error is None:
                    self.metrics.delivered.inc()
                    self.metrics.lag.observe(max((a.done_at - a.event.recorded_at).total_seconds(), 0.0))
                else:
                    self.metrics.failed.inc()
                    where = result.lane.subscription_id
                    log.info(
                        "webhook %s to %s failed (attempt %d): %s",
                        a.msg_id,
                        where,
                        a.item.attempts + 1,
                        a.error,
                    )
            if result.gave_up:
                self.metrics.disabled.inc()
                log.error(
                    "webhook subscription %s disabled: %s",
                    result.lane.subscription_id,
                    result.attempts[-1].msg_id,
                )

    def _observe_backlog(self) -> None:
        """The backlog gauges, at most every few seconds (a count over the deliveries)."""
        if time.monotonic() - self._observed < 5:
            return
        self._observed = time.monotonic()
        with self._reads() as session:
            found = webhooks.backlog(session)
        self.metrics.pending.set(found.pending)
        self.metrics.oldest_pending_age.set(waited_seconds(self._clock(), found.oldest_created_at))

    # --- the loop (workers.relay_loop runs the passes) -----------------------------------------

    def busy(self, done: WebhookPass) -> bool:
        return done.lanes == self.policy.batch_size or bool(done.queued)

    def poll_seconds(self) -> float:
        return self.policy.poll.total_seconds()

    def gather_seconds(self) -> float:
        return self.policy.gather.total_seconds()
