"""What intake reads for every new case and that changes rarely: the routing rules and the resolved
policy of a merchant and category. Each is read again only when it changed, which one query per case
finds out (the newest change's id), instead of re-reading and re-resolving it for every case. One cache
per API process; entries are immutable values, so threads share them without a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from domain.policy import CasePolicy
from domain.routing import RoutingRule
from services import policies as policy_service
from store import policies
from store import routing as routing_store

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
MAX_POLICIES = 10_000  # (merchant, category) pairs kept; beyond it the cache starts again


@dataclass(frozen=True)
class _Rules:
    generation: int | None
    rules: list[RoutingRule]


@dataclass(frozen=True)
class _Policy:
    generation: int | None
    since: datetime  # in force from (the newest effective version's start) ...
    until: datetime  # ... until the next stored version takes effect
    policy: CasePolicy


class IntakeCache:
    def __init__(self) -> None:
        self._rules: _Rules | None = None
        self._policies: dict[tuple[str | None, str | None, int], _Policy] = {}

    def routing_rules(self, session: Session) -> list[RoutingRule]:
        """The routing table in force, as `store.routing.rules_in_force` reads it."""
        generation = routing_store.generation(session)
        cached = self._rules
        if cached is None or cached.generation != generation:
            cached = _Rules(generation, routing_store.rules_of(session, generation).rules)
            self._rules = cached
        return cached.rules

    def policy(
        self, session: Session, merchant_id: str | None, category: str | None, at: datetime, base: CasePolicy
    ) -> CasePolicy:
        """The policy in force at `at`, as `services.policies.in_force` resolves it over `base`.
        Raises ValueError when the stored versions do not resolve (the caller's fallback)."""
        generation = policies.generation(session)
        key = (merchant_id, category, base.time_scale)
        cached = self._policies.get(key)
        if cached is not None and cached.generation == generation and cached.since <= at < cached.until:
            return cached.policy
        resolved = policy_service.in_force(session, merchant_id, category, at, base)
        since = max((v.effective_from for v in resolved.versions), default=EARLIEST)
        until = policies.next_change(session, merchant_id, category, at) or LATEST
        if len(self._policies) >= MAX_POLICIES:
            self._policies = {}
        self._policies[key] = _Policy(generation, since, until, resolved.policy)
        return resolved.policy
