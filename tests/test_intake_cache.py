"""Intake reads the routing table and the policy in force once per change, not once per case: a
change stored, or a stored version whose time comes, is what the very next case gets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.intake_cache import IntakeCache
from domain.policy import DEFAULT_POLICY
from domain.policy_docs import PolicyDocument
from domain.routing import RoutingRule, RoutingTable
from services import policies as policy_service
from store import routing as routing_store
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from tests.support.databases import scratch_database

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with scratch_database(tmp_path, "aftersales_intake_cache") as url:
        upgrade(url)
        engine = make_engine(url)
        yield make_session_factory(engine)
        engine.dispose()


def publish(
    sessions: sessionmaker[Session], days: int, effective_from: datetime, merchant: str = "M-1"
) -> None:
    with sessions.begin() as session:
        document = PolicyDocument(no_reason_return_days=days)
        policy_service.create_version(session, merchant, None, effective_from, document, "test")


def return_days(
    cache: IntakeCache, sessions: sessionmaker[Session], at: datetime, merchant: str = "M-1"
) -> int:
    with sessions() as session:
        return cache.policy(session, merchant, "appliances", at, DEFAULT_POLICY).no_reason_return_days


def test_a_new_policy_version_reaches_the_next_case(sessions: sessionmaker[Session]) -> None:
    cache = IntakeCache()
    assert return_days(cache, sessions, T0) == DEFAULT_POLICY.no_reason_return_days
    publish(sessions, 10, T0 - timedelta(hours=1))
    assert return_days(cache, sessions, T0) == 10
    assert return_days(cache, sessions, T0, merchant="M-2") == DEFAULT_POLICY.no_reason_return_days


def test_a_version_stored_for_later_takes_over_when_its_time_comes(sessions: sessionmaker[Session]) -> None:
    cache = IntakeCache()
    publish(sessions, 10, T0 - timedelta(days=1))
    publish(sessions, 14, T0 + timedelta(hours=2))
    assert return_days(cache, sessions, T0) == 10
    assert return_days(cache, sessions, T0 + timedelta(hours=1)) == 10
    assert return_days(cache, sessions, T0 + timedelta(hours=2)) == 14
    # A repeated request is resolved at its case's time, before the later version.
    assert return_days(cache, sessions, T0) == 10


def test_a_replaced_routing_table_routes_the_next_case(sessions: sessionmaker[Session]) -> None:
    cache = IntakeCache()
    with sessions() as session:
        assert cache.routing_rules(session) == []
    table = RoutingTable(rules=[RoutingRule(queue="complaints", issue_types=["complaint"])])
    with sessions.begin() as session:
        routing_store.replace_rules(session, table, "test", T0)
    with sessions() as session:
        assert [rule.queue for rule in cache.routing_rules(session)] == ["complaints"]
    again = RoutingTable(rules=[RoutingRule(queue="escalations", priorities=["urgent"])])
    with sessions.begin() as session:
        routing_store.replace_rules(session, again, "test", T0)
    with sessions() as session:
        assert [rule.queue for rule in cache.routing_rules(session)] == ["escalations"]
