"""Case-store activities: the projection and the append-only audit trail, written idempotently."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from activities import contracts as c
from activities.definition import defn
from domain.models import CaseDelta, CaseProgress
from domain.quality import QualityPolicy
from store import cases
from store.progress import apply_delta, apply_progress


class CaseStoreActivities:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        wake_relay: Callable[[], None] | None = None,
        quality_policy: QualityPolicy | None = None,
        wake_webhooks: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._wake_relay = wake_relay
        self._wake_webhooks = wake_webhooks  # the webhook relay: events were recorded
        self._quality = quality_policy or QualityPolicy()

    @defn(name=c.RECLAIM_LINES)
    def reclaim_lines(self, request: c.LineClaimRequest) -> c.LineClaim:
        with self._sessions.begin() as session:
            claim = cases.reclaim_case_lines(session, request.case_id)
        return c.LineClaim(
            held_by=claim.held_by, line_id=claim.line_id, already_refunded=claim.already_refunded
        )

    @defn(name=c.RECORD_PROGRESS)
    def record_progress(self, progress: CaseProgress) -> None:
        # A retry replays the same versioned projection and event seqs: the store skips what it has.
        with self._sessions.begin() as session:
            apply_progress(session, progress)
        if progress.events and self._wake_webhooks is not None:
            self._wake_webhooks()

    @defn(name=c.RECORD_DELTA)
    def record_delta(self, delta: CaseDelta) -> None:
        # Run as a local activity: a retry, or a replay after the worker died, brings the same
        # version, seqs and message keys, which the store has already.
        with self._sessions.begin() as session:
            written = apply_delta(session, delta, self._quality)
        if written.messages and self._wake_relay is not None:
            self._wake_relay()  # committed: this worker's relay can send them right away
        if written.events and self._wake_webhooks is not None:
            self._wake_webhooks()
