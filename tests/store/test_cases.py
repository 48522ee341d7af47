"""Creating cases (idempotency, one open case per order line) and applying workflow progress."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import CaseStatus, CloseReason, Liability, Step
from domain.models import CaseRequest, CaseView
from domain.money import Money
from store import audit, cases, common, progress
from store.errors import IdempotencyConflict, OpenCaseExists
from store.models import CaseRow, EventRow, OpenCaseLineRow
from tests.store import factories as f
from tests.store.helpers import count, create


def view_of(db: sessionmaker[Session], cid: str) -> CaseView:
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        return CaseView.model_validate(row.view)


def test_a_case_row_carries_the_request_and_the_view(db: sessionmaker[Session]) -> None:
    req = f.case_request(line_ids=["L1", "L2"])
    cid, created = create(db, req, key=f.unique("key"))
    assert created
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        assert CaseRequest.model_validate(cases.request_of(session, row)) == req  # opened
        assert row.request_hash == cases.request_hash(req)
        assert (row.order_id, row.merchant_id, row.customer_id) == (req.order.order_id, "M-100", "C-42")
        assert (row.status, row.step, row.version) == ("pending", "submitted", 0)
        assert row.paid_amount == req.paid_total.amount == Decimal("188.00")
        assert row.created_at == f.NOW and row.created_at.tzinfo is not None
        assert CaseView.model_validate(row.view).deadlines == {
            "preliminary_review": f.NOW + timedelta(hours=2)
        }
        lines = session.scalars(select(OpenCaseLineRow).where(OpenCaseLineRow.case_id == cid)).all()
        assert sorted(line.line_id for line in lines) == ["L1", "L2"]


def test_the_request_hash_ignores_key_order_but_not_content() -> None:
    req = f.case_request(order_id="O-fixed")
    same = CaseRequest.model_validate_json(req.model_dump_json())
    assert cases.request_hash(req) == cases.request_hash(same)
    other = f.case_request(order_id="O-fixed", description="It leaks badly.")
    assert cases.request_hash(req) != cases.request_hash(other)


def test_a_request_without_a_region_or_vip_flag_hashes_as_before_they_existed() -> None:
    req = f.case_request(order_id="O-fixed")
    body = req.model_dump(mode="json")
    body["order"].pop("region")
    body["order"].pop("vip")
    before = hashlib.sha256(common.canonical(body).encode()).hexdigest()
    assert cases.request_hash(req) == before
    in_region = req.model_copy(update={"order": req.order.model_copy(update={"region": "CN-GD"})})
    assert cases.request_hash(in_region) != before
    vip = req.model_copy(update={"order": req.order.model_copy(update={"vip": True})})
    assert cases.request_hash(vip) != before


def test_the_same_idempotency_key_creates_one_case(db: sessionmaker[Session]) -> None:
    req, key = f.case_request(), f.unique("key")
    first, created = create(db, req, key)
    again, created_again = create(db, req, key)
    assert (created, created_again) == (True, False)
    assert again == first
    assert count(db, CaseRow, idempotency_key=key) == 1
    with db() as session:
        row = cases.get_case_by_key(session, key)
        assert row is not None and row.case_id == first


def test_the_same_key_with_another_body_is_a_conflict(db: sessionmaker[Session]) -> None:
    req, key = f.case_request(), f.unique("key")
    first, _ = create(db, req, key)
    other = f.case_request(order_id=req.order.order_id, description="Something else entirely.")
    with pytest.raises(IdempotencyConflict) as err:
        create(db, other, key)
    assert err.value.case_id == first
    assert count(db, CaseRow, order_id=req.order.order_id) == 1


def test_concurrent_creates_with_one_key_make_one_case(db: sessionmaker[Session]) -> None:
    req, key = f.case_request(), f.unique("key")
    start = threading.Barrier(8)

    def attempt(_: int) -> tuple[str, bool]:
        start.wait()
        return create(db, req, key)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert len({cid for cid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert count(db, CaseRow, idempotency_key=key) == 1
    assert count(db, OpenCaseLineRow, order_id=req.order.order_id) == 1


def test_concurrent_creates_on_one_line_without_a_key_make_one_case(db: sessionmaker[Session]) -> None:
    req = f.case_request()
    start = threading.Barrier(8)

    def attempt(_: int) -> str:
        start.wait()
        try:
            return create(db, req)[0]
        except OpenCaseExists as err:
            return f"refused:{err.case_id}"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    winners = [r for r in results if not r.startswith("refused:")]
    assert len(winners) == 1
    assert all(r == f"refused:{winners[0]}" for r in results if r not in winners)
    assert count(db, CaseRow, order_id=req.order.order_id) == 1


def test_one_open_case_per_order_line_until_it_closes(db: sessionmaker[Session]) -> None:
    req = f.case_request(line_ids=["L1"])
    first, _ = create(db, req)
    with pytest.raises(OpenCaseExists) as err:
        create(db, req)
    assert (err.value.case_id, err.value.order_id, err.value.line_id) == (first, req.order.order_id, "L1")
    # Another line of the same order is free.
    other_line = f.case_request(order_id=req.order.order_id, line_ids=["L2"])
    create(db, other_line)

    closed = f.moved(view_of(db, first), Step.CLOSED, close_reason=CloseReason.WITHDRAWN)
    with db.begin() as session:
        progress.apply_progress(
            session, f.progress(closed, 1, [f.event(first, 1, "closed", step=Step.CLOSED)])
        )
    assert count(db, OpenCaseLineRow, case_id=first) == 0
    second, created = create(db, req)
    assert created and second != first


def test_a_refused_case_leaves_nothing_behind(db: sessionmaker[Session]) -> None:
    """The case row is written before its lines are claimed: a refusal must roll all of it back."""
    held = f.case_request(line_ids=["L2"])
    holder, _ = create(db, held)
    both = f.case_request(order_id=held.order.order_id, line_ids=["L1", "L2"])
    key = f.unique("key")
    with pytest.raises(OpenCaseExists) as err:
        create(db, both, key)
    assert err.value.case_id == holder
    assert count(db, CaseRow, order_id=held.order.order_id) == 1
    assert count(db, OpenCaseLineRow, order_id=held.order.order_id) == 1
    with db() as session:
        assert cases.get_case_by_key(session, key) is None


def test_a_retried_progress_write_writes_nothing_twice(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    view = f.moved(view_of(db, cid), Step.MERCHANT_VERIFICATION, sla_breached=True)
    write = f.progress(
        view,
        3,
        [f.event(cid, 1), f.event(cid, 2, "note", payload={"text": "called"}), f.event(cid, 3)],
        priority="high",
        assigned_to="agent-7",
    )
    for _ in range(2):
        with db.begin() as session:
            progress.apply_progress(session, write)
    assert count(db, EventRow, case_id=cid) == 3
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        assert (row.version, row.status, row.step) == (3, "processing", "merchant_verification")
        assert (row.priority, row.assigned_to, row.sla_breached) == ("high", "agent-7", True)
        hashes = [e.hash for e in audit.list_events(session, cid)]
        first_updated = row.updated_at
    with db.begin() as session:
        progress.apply_progress(session, write)
    with db() as session:
        assert [e.hash for e in audit.list_events(session, cid)] == hashes
        row = cases.get_case(session, cid)
        assert row is not None and row.updated_at == first_updated


def test_an_older_projection_never_overwrites_a_newer_one(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    base = view_of(db, cid)
    newer = f.moved(
        base,
        Step.AWAITING_CUSTOMER_DECISION,
        liability=Liability.MERCHANT,
        refunded=Money(amount=Decimal("10.00"), currency="CNY"),
    )
    older = f.moved(base, Step.MERCHANT_VERIFICATION)
    with db.begin() as session:
        progress.apply_progress(session, f.progress(newer, 5, [f.event(cid, 5)]))
    with db.begin() as session:
        # A late retry of an earlier write: its events still land, its projection does not.
        progress.apply_progress(session, f.progress(older, 4, [f.event(cid, 4)]))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        assert (row.version, row.step, row.status) == (5, "awaiting_customer_decision", "awaiting_customer")
        assert (row.liability, row.refunded_amount) == ("merchant", Decimal("10.00"))
        assert CaseView.model_validate(row.view) == newer
        assert [e.seq for e in audit.list_events(session, cid)] == [4, 5]


def test_progress_for_an_unknown_case_is_refused(db: sessionmaker[Session]) -> None:
    req = f.case_request()
    ghost = f.initial_view(f.case_id(), req)
    with db.begin() as session, pytest.raises(LookupError):
        progress.apply_progress(session, f.progress(ghost, 1, [f.event(ghost.case_id, 1)]))


def test_closing_keeps_the_case_and_its_indexed_columns(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    closed = f.moved(view_of(db, cid), Step.CLOSED, close_reason=CloseReason.REJECTED)
    with db.begin() as session:
        progress.apply_progress(session, f.progress(closed, 2, [f.event(cid, 1, "closed", step=Step.CLOSED)]))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        assert (row.status, row.step, row.close_reason) == (CaseStatus.CLOSED, Step.CLOSED, "rejected")
    assert count(db, OpenCaseLineRow, case_id=cid) == 0
