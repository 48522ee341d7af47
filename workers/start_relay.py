"""The start relay: starts the workflows of stored cases whose start did not happen.

`POST /v1/cases` stores a case with a pending start (store/case_starts.py) and starts the workflow
right after its commit; the workflow's first store write deletes the pending start. One still there
after its grace means the API died between its commit and the start, or Temporal was down: this relay
claims it under a lease, starts the workflow (attaching to it if it runs, never starting a closed case
again) and deletes it, or retries with backoff. So a case the API stored is never left without its
workflow. Each worker process runs one; several share the table safely (claims skip locked rows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from core.settings import Settings
from domain.models import CaseInput
from services.case_start import start_case_workflow
from store import case_starts
from store.common import utcnow
from store.db import reading
from workers.relay_loop import RelayLoop, doubling_backoff, waited_seconds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartPolicy:
    task_queue: str
    poll: timedelta = timedelta(seconds=1)
    batch_size: int = 20
    rpc_timeout: timedelta = timedelta(seconds=10)
    retry_base: timedelta = timedelta(seconds=1)
    retry_max: timedelta = timedelta(seconds=30)

    @property
    def lease(self) -> timedelta:
        """A claimed start is left alone this long: above one start's timeout for each of a batch."""
        return self.rpc_timeout * (self.batch_size + 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> StartPolicy:
        return cls(
            task_queue=settings.task_queue,
            poll=timedelta(seconds=settings.outbox_poll_seconds),
            rpc_timeout=timedelta(seconds=settings.workflow_rpc_timeout_seconds),
            retry_base=timedelta(seconds=settings.outbox_retry_base_seconds),
            retry_max=timedelta(seconds=settings.case_start_grace_seconds),
        )

    def backoff(self, failures: int) -> timedelta:
        return doubling_backoff(failures, self.retry_base, self.retry_max)


class StartMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.started = Counter(
            "aftersales_case_starts_by_relay",
            "Case workflows the start relay started (the API's own start had not happened)",
            registry=self.registry,
        )
        self.failed = Counter(
            "aftersales_case_start_failed_attempts",
            "Failed start attempts of the relay",
            registry=self.registry,
        )
        self.pending = Gauge(
            "aftersales_case_starts_pending",
            "Stored cases whose workflow's first store write has not happened yet",
            registry=self.registry,
        )
        self.oldest_pending_age = Gauge(
            "aftersales_case_starts_oldest_pending_age_seconds",
            "Age of the oldest pending start (0 when none)",
            registry=self.registry,
        )


@dataclass(frozen=True)
class StartPass:
    claimed: int = 0
    started: int = 0
    failed: int = 0


class StartRelay(RelayLoop[StartPass]):
    relay_name = "start relay"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: Client,
        policy: StartPolicy,
        metrics: StartMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.policy = policy
        self.metrics = metrics or StartMetrics()
        self._sessions = sessions
        self._reads = reading(sessions)
        self._client = client
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], client: Client, registry: CollectorRegistry
    ) -> StartRelay:
        return cls(sessions, client, StartPolicy.from_settings(settings), StartMetrics(registry))

    def run_once(self) -> StartPass:
        """Claim the due starts (one batch) and make each; runs in a thread while `run()` runs."""
        with self._reads() as session:
            due = case_starts.any_due(session, self._clock())
        if not due:
            self.observe_pending()
            return StartPass()
        with self._sessions.begin() as session:
            claimed = case_starts.claim_due(session, self._clock(), self.policy.batch_size, self.policy.lease)
        started = failed = 0
        for start in claimed:
            if self._start(start.input, start.attempts):
                started += 1
            else:
                failed += 1
        self.observe_pending()
        return StartPass(len(claimed), started, failed)

    def _start(self, inp: CaseInput, attempts: int) -> bool:
        loop = self._loop
        if loop is None:  # stopped meanwhile: the lease runs out and a relay claims it again
            return False
        timeout = self.policy.rpc_timeout.total_seconds()
        work = start_case_workflow(self._client, self.policy.task_queue, inp, self.policy.rpc_timeout)
        try:
            ran = asyncio.run_coroutine_threadsafe(work, loop).result(timeout + 5)
        except Exception as err:  # any failure is this start's: retried after a backoff
            retry_at = self._clock() + self.policy.backoff(attempts + 1)
            with self._sessions.begin() as session:
                case_starts.failed(session, inp.case_id, f"{type(err).__name__}: {err}", retry_at)
            self.metrics.failed.inc()
            log.warning(
                "workflow of case %s not started (attempt %d), retrying at %s: %s",
                inp.case_id,
                attempts + 1,
                retry_at.isoformat(),
                err,
            )
            return False
        with self._sessions.begin() as session:
            case_starts.done(session, inp.case_id)
        self.metrics.started.inc()
        if ran:
            log.info("workflow of case %s started by the start relay", inp.case_id)
        else:
            log.warning(
                "case %s had a pending start but its workflow has ended: not started again", inp.case_id
            )
        return True

    def observe_pending(self) -> None:
        with self._reads() as session:
            summary = case_starts.pending_summary(session)
        self.metrics.pending.set(summary.count)
        self.metrics.oldest_pending_age.set(waited_seconds(self._clock(), summary.oldest_created_at))

    def busy(self, done: StartPass) -> bool:
        return done.claimed == self.policy.batch_size

    def poll_seconds(self) -> float:
        return self.policy.poll.total_seconds()
