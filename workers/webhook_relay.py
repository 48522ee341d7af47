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

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
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

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        return cls(
            poll=timedelta(seconds=settings.webhook_poll_seconds),
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


@dataclass
class _LaneOutcome:
    delivered: int = 0
    failed: int = 0


class WebhookRelay:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: httpx.Client,
        policy: WebhookPolicy | None = None,
        metrics: WebhookMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.policy = policy or WebhookPolicy()
        self.metrics = metrics or WebhookMetrics()
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._pool = ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="webhook")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bell: asyncio.Event | None = None
        self._stopping = False
        self._failing = False
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
        with self._sessions.begin() as session:
            queued = webhooks.fan_out(session, self._clock(), self.policy.fan_out_limit)
        with self._sessions.begin() as session:
            lanes = webhooks.claim_lanes(session, self._clock(), self.policy.batch_size, self.policy.lease)
        outcomes = list(self._pool.map(self._send_lane, lanes))
        self._observe_backlog()
        return WebhookPass(
            queued=queued,
            lanes=len(lanes),
            delivered=sum(o.delivered for o in outcomes),
            failed=sum(o.failed for o in outcomes),
        )

    def _send_lane(self, lane: webhooks.Lane) -> _LaneOutcome:
        """Send a lane's pending deliveries in order; stop at the first failure (head of line)."""
        outcome = _LaneOutcome()
        retry_at: datetime | None = None
        try:
            with self._sessions() as session:
                subscription = webhooks.get_subscription(session, lane.subscription_id)
                pending = webhooks.pending_of(session, lane, PER_LANE)
                if subscription is None or not pending:
                    return outcome
                url = subscription.url
                secrets = webhooks.signing_secrets(session, subscription, self._clock())
                rows = feed.event_rows(session, [p.event_id for p in pending])
                events = {e.event_id: e for e in feed.as_seen_by(session, rows, READER)}
            for item in pending:
                event = events.get(item.event_id)
                if event is None:  # its case was erased meanwhile (the delivery goes with it)
                    continue
                retry_at = self._attempt(lane, url, secrets, item, event)
                if retry_at is not None:
                    outcome.failed += 1
                    break
                outcome.delivered += 1
        except Exception:  # the store failed mid-lane: the lane is released or its lease runs out
            log.warning("webhook lane %s/%s failed", lane.subscription_id, lane.case_id, exc_info=True)
            retry_at = self._clock() + self.policy.poll
        with suppress(Exception), self._sessions.begin() as session:
            webhooks.release_lane(session, lane, self._clock(), retry_at)
        return outcome

    def _attempt(
        self,
        lane: webhooks.Lane,
        url: str,
        secrets: list[str],
        item: webhooks.Pending,
        event: feed.FeedEvent,
    ) -> datetime | None:
        """One attempt, recorded; None when delivered, else when the lane is due again."""
        msg_id = webhook_id(event.event_id)
        body = body_of(event.document())
        sent_at = self._clock()
        # webhook-timestamp is wall time, whatever clock schedules the retries (receivers check it).
        headers = signed_headers(msg_id, utcnow(), body, secrets)
        started = time.perf_counter()
        status: int | None = None
        excerpt, error = "", None
        try:
            answer = self._client.post(url, content=body, headers=headers)
            status, excerpt = answer.status_code, answer.text[: webhooks.MAX_EXCERPT]
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}"
        latency_ms = round((time.perf_counter() - started) * 1000)
        now = self._clock()
        delay = None if error is None else retry_delay(item.attempts + 1, self.policy.retry_scale)
        gave_up = error is not None and delay is None
        with self._sessions.begin() as session:
            webhooks.record_attempt(
                session,
                subscription_id=lane.subscription_id,
                pending=item,
                webhook_id=msg_id,
                case_id=event.case_id,
                cursor=event.before,
                at=sent_at,
                status_code=status,
                latency_ms=latency_ms,
                excerpt=excerpt,
                error=error,
            )
            if error is None:
                webhooks.mark_delivered(session, item, now)
            else:
                webhooks.mark_failed(session, item, gave_up)
                if gave_up:
                    reason = f"{msg_id} failed {item.attempts + 1} times over 3 days; last: {error}"
                    webhooks.disable(session, lane.subscription_id, reason, now)
        if error is None:
            self.metrics.delivered.inc()
            self.metrics.lag.observe(max((now - event.recorded_at).total_seconds(), 0.0))
            return None
        self.metrics.failed.inc()
        if gave_up:
            self.metrics.disabled.inc()
            log.error(
                "webhook subscription %s disabled: %s gave up (%s)", lane.subscription_id, msg_id, error
            )
            return now
        assert delay is not None
        log.info(
            "webhook %s to %s failed (attempt %d): %s", msg_id, lane.subscription_id, item.attempts + 1, error
        )
        return now + delay

    def _observe_backlog(self) -> None:
        """The backlog gauges, at most every few seconds (a count over the deliveries)."""
        if time.monotonic() - self._observed < 5:
            return
        self._observed = time.monotonic()
        with self._sessions() as session:
            found = webhooks.backlog(session)
        self.metrics.pending.set(found.pending)
        oldest = found.oldest_created_at
        age = max((self._clock() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        self.metrics.oldest_pending_age.set(age)

    # --- the loop ---------------------------------------------------------------------------------

    def wake(self) -> None:
        """Send now instead of at the next poll (events were recorded). Thread-safe."""
        loop, bell = self._loop, self._bell
        if loop is None or bell is None:
            return
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(bell.set)

    async def run(self) -> None:
        """Pass after pass until `stop()`: at once after a busy pass, else on a wake or the poll."""
        self._loop, self._bell = asyncio.get_running_loop(), asyncio.Event()
        try:
            while not self._stopping:
                self._bell.clear()
                done = await asyncio.to_thread(self._pass_logged)
                if done is not None and (done.lanes == self.policy.batch_size or done.queued):
                    continue
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.policy.poll.total_seconds()):
                        await self._bell.wait()
        finally:
            self._loop = self._bell = None

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WebhookRelay]:
        self._stopping = False
        task = asyncio.create_task(self.run(), name="webhook-relay")
        try:
            yield self
        finally:
            self.stop()
            await task

    def _pass_logged(self) -> WebhookPass | None:
        try:
            done = self.run_once()
        except Exception:
            if not self._failing:
                log.warning("webhook relay cannot reach the case store; retrying", exc_info=True)
            self._failing = True
            return None
        if self._failing:
            log.info("webhook relay reaches the case store again")
        self._failing = False
        return done
