"""The routing table in the store (replaced whole, read in order, with who changed it) and queues
(depth, oldest, breached; open cases breached first, then by due time, page by page)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import CloseReason, Step
from domain.routing import RoutingTable
from store import cases, progress, queues, routing
from store.models import CaseRow, RoutingChangeRow
from tests.store import factories as f


def queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def open_in(
    db: sessionmaker[Session],
    queue: str,
    *,
    at: timedelta = timedelta(0),
    due: timedelta | None = None,
    breached: bool = False,
    closed: bool = False,
) -> str:
    """A case in `queue`, opened `at` after f.NOW, due `due` after f.NOW (none: no deadline)."""
    req = f.case_request()
    cid = f.case_id()
    created = f.NOW + at
    view = f.initial_view(cid, req, created).model_copy(
        update={"queue": queue, "deadlines": {} if due is None else {"merchant_verification": f.NOW + due}}
    )
    with db.begin() as session:
        cases.create_case(session, cid, f"case-{cid}", None, req, view)
    changes: dict[str, Any] = {"sla_breached": breached}
    if closed:
        moved = f.moved(view, Step.CLOSED, close_reason=CloseReason.RESOLVED, **changes)
    else:
        moved = f.moved(view, Step.MERCHANT_VERIFICATION, **changes)
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, view=moved.model_dump(mode="json")))
    return cid


TABLE = RoutingTable.model_validate(
    {
        "rules": [
            {"queue": "complaints", "name": "every complaint", "issue_types": ["complaint"]},
            {
                "queue": "high-value",
                "min_amount": {"amount": "2000.00", "currency": "CNY"},
                "max_amount": {"amount": "9000.00", "currency": "CNY"},
                "categories": ["appliances"],
            },
            {"queue": "key-accounts", "merchant_ids": ["M-100"], "priorities": ["high", "urgent"]},
        ]
    }
)


def test_the_table_reads_back_in_order_with_who_replaced_it(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        routing.replace_rules(session, TABLE, "supervisor:key-1", f.NOW)
    with db() as session:
        stored = routing.rules_in_force(session)
    assert stored.rules == TABLE.rules
    assert stored.rules[1].min_amount is not None and stored.rules[1].min_amount.amount == Decimal("2000.00")
    assert (stored.changed_by, stored.changed_at) == ("supervisor:key-1", f.NOW)


def test_a_replacement_is_whole_and_the_history_keeps_every_version(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        routing.replace_rules(session, TABLE, "supervisor:a", f.NOW)
    shorter = RoutingTable.model_validate({"rules": [{"queue": "only-one"}]})
    with db.begin() as session:
        routing.replace_rules(session, shorter, "system:b", f.NOW + timedelta(minutes=1))
    with db() as session:
        assert [r.queue for r in routing.rules_in_force(session).rules] == ["only-one"]
        history = session.scalars(select(RoutingChangeRow).order_by(RoutingChangeRow.id.desc())).all()
    assert [h.actor for h in history[:2]] == ["system:b", "supervisor:a"]
    assert history[1].rules[0]["queue"] == "complaints"


def test_a_replacement_that_fails_leaves_the_old_table(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        routing.replace_rules(session, TABLE, "supervisor:a", f.NOW)
    try:
        with db.begin() as session:
            routing.replace_rules(session, RoutingTable(rules=[]), "supervisor:b", f.NOW)
            raise RuntimeError("the request died before the commit")
    except RuntimeError:
        pass
    with db() as session:
        assert routing.rules_in_force(session).rules == TABLE.rules


def test_an_empty_table_sends_every_case_to_the_default_queue(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        routing.replace_rules(session, RoutingTable(rules=[]), "supervisor:a", f.NOW)
    with db() as session:
        stored = routing.rules_in_force(session)
    assert stored.rules == [] and stored.changed_by == "supervisor:a"


def test_a_queue_counts_its_open_cases_its_oldest_and_its_breached(db: sessionmaker[Session]) -> None:
    queue = queue_name()
    open_in(db, queue, at=timedelta(hours=1), due=timedelta(hours=30))
    open_in(db, queue, at=timedelta(hours=2), due=timedelta(hours=5), breached=True)
    open_in(db, queue, at=timedelta(hours=-1), closed=True)  # closed: not in the queue any more
    with db() as session:
        stats = {s.queue: s for s in queues.queue_stats(session)}
    assert stats[queue] == queues.QueueStats(queue, 2, f.NOW + timedelta(hours=1), 1)


def test_a_queue_lists_breached_first_then_by_due_time_page_by_page(db: sessionmaker[Session]) -> None:
    queue = queue_name()
    late = open_in(db, queue, due=timedelta(hours=9), breached=True)
    later_breached = open_in(db, queue, due=timedelta(hours=20), breached=True)
    soon = open_in(db, queue, due=timedelta(hours=1))
    tied = sorted([open_in(db, queue, due=timedelta(hours=4)) for _ in range(3)])
    undated = open_in(db, queue)
    open_in(db, queue, due=timedelta(hours=2), closed=True)
    open_in(db, queue_name(), due=timedelta(hours=1))  # another queue
    seen: list[str] = []
    cursor: str | None = None
    while True:
        with db() as session:
            rows, cursor = queues.queue_cases(session, queue, limit=2, cursor=cursor)
        seen += [row.case_id for row in rows]
        if cursor is None:
            break
    assert seen == [late, later_breached, soon, *tied, undated]


def test_the_row_keeps_the_earliest_deadline_as_its_due_time(db: sessionmaker[Session]) -> None:
    cid = open_in(db, queue_name(), due=timedelta(hours=3))
    with db() as session:
        row = session.get(CaseRow, cid)
        assert row is not None and row.due_at == f.NOW + timedelta(hours=3)


def test_a_foreign_cursor_is_refused(db: sessionmaker[Session]) -> None:
    with db() as session, pytest.raises(ValueError, match="cursor"):
        queues.queue_cases(session, "general", cursor="bm90LWEtY3Vyc29y")


def test_a_customers_recent_cases_are_counted(db: sessionmaker[Session]) -> None:
    customer = f.unique("C")
    for hours in (0, 24, 24 * 40):
        req = f.case_request()
        req = req.model_copy(update={"order": req.order.model_copy(update={"customer_id": customer})})
        cid = f.case_id()
        with db.begin() as session:
            cases.create_case(
                session,
                cid,
                f"case-{cid}",
                None,
                req,
                f.initial_view(cid, req, f.NOW - timedelta(hours=hours)),
            )
    with db() as session:
        assert cases.count_cases_since(session, customer, f.NOW - timedelta(days=30)) == 2
        assert cases.count_cases_since(session, f.unique("C"), f.NOW - timedelta(days=30)) == 0
