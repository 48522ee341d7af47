"""Shared dependencies of the routes: settings, store sessions, the Temporal gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from api.case_starts import BackgroundStarts
from api.intake_cache import IntakeCache
from api.key_cache import KeyCache
from api.metrics import ApiMetrics
from api.presence import PresenceMarks
from api.temporal_gateway import TemporalGateway
from core.settings import Settings
from domain.policy import DEFAULT_POLICY, CasePolicy

if TYPE_CHECKING:
    from api.auth import Identity


@dataclass
class AppContext:
    settings: Settings
    sessions: sessionmaker[Session]  # reads and writes (writers use `.begin()`)
    reads: sessionmaker[Session]  # sessions that only read: on SQLite they take no write lock
    gateway: TemporalGateway
    metrics: ApiMetrics
    known_keys: KeyCache[Identity]
    presence: PresenceMarks
    # Each carrier's webhook secret (core.keyring.carrier_secrets), read once at start.
    carrier_secrets: dict[str, str] = field(default_factory=dict)
    # Workflow starts made after a create's commit, still in flight (drained at shutdown).
    starts: BackgroundStarts = field(default_factory=BackgroundStarts)
    # Routing rules and resolved policies, read again only when they change.
    intake: IntakeCache = field(default_factory=IntakeCache)

    @property
    def policy(self) -> CasePolicy:
        """The policy new cases start with: the default, with the configured time scale."""
        scale = self.settings.policy_time_scale
        return DEFAULT_POLICY if scale == 1 else DEFAULT_POLICY.model_copy(update={"time_scale": scale})


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(get_context)]
