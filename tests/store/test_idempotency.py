"""A caller's Idempotency-Key for an action: stored once, a repeat must be the same request."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from store.errors import ActionKeyConflict
from store.idempotency import remember_action_key
from tests.store.helpers import statements_sent
from tests.support.waiting import eventually_sync

NOTE = {"text": "called the customer"}


def writers_waiting_on_a_lock(db: sessionmaker[Session]) -> int:
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with db() as session:
        return int(session.execute(text(query)).scalar_one())


def test_a_new_key_is_one_insert_and_a_repeat_of_the_same_request_is_recognised(
    db: sessionmaker[Session],
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    with db.begin() as session, statements_sent(session) as sent:
        new = remember_action_key(session, "agent:1", key, "C1", "notes", NOTE)
    sent = [s for s in sent if not s.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))]
    assert new is True and len(sent) == 1 and sent[0].startswith("INSERT")
    with db.begin() as session:
        assert remember_action_key(session, "agent:1", key, "C1", "notes", dict(NOTE)) is False


def test_a_key_again_for_another_body_case_or_action_is_a_conflict_and_keeps_the_first(
    db: sessionmaker[Session],
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    with db.begin() as session:
        remember_action_key(session, "agent:1", key, "C1", "notes", NOTE)
    for case_id, action, body, said in (
        ("C1", "notes", {"text": "something else"}, "different request body"),
        ("C2", "notes", NOTE, "used for notes on case C1"),
        ("C1", "escalation", NOTE, "used for notes on case C1"),
    ):
        with db.begin() as session, pytest.raises(ActionKeyConflict, match=said):
            remember_action_key(session, "agent:1", key, case_id, action, body)
    with db.begin() as session:  # another caller's key of the same name is another key
        assert remember_action_key(session, "supervisor:2", key, "C2", "escalation", {}) is True


def test_the_same_key_at_the_same_moment_waits_for_the_first_writer_then_compares(
    db: sessionmaker[Session], db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers before their INSERT: there is no moment to share")
    key = f"k-{uuid.uuid4().hex}"
    outcome: list[object] = []
    with db.begin() as first:
        assert remember_action_key(first, "agent:1", key, "C1", "notes", NOTE)

        def second() -> None:
            try:
                with db.begin() as session:
                    outcome.append(remember_action_key(session, "agent:1", key, "C1", "notes", {"text": "x"}))
            except ActionKeyConflict as err:
                outcome.append(err)

        racer = threading.Thread(target=second)
        racer.start()
        # Its INSERT waits on the first writer's uncommitted row: let the first commit only then.
        eventually_sync(lambda: writers_waiting_on_a_lock(db), bool, "the second writer waiting")
    racer.join()
    assert len(outcome) == 1 and isinstance(outcome[0], ActionKeyConflict), outcome
