"""The refund ledger: one row per money-moving decision, never more than was paid."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.models import CaseView
from domain.money import Money
from store import progress, refunds
from store.cases import get_case
from store.errors import OrderLineMismatch, RefundConflict, RefundLimitExceeded
from tests.store import factories as f
from tests.store.helpers import create


def cny(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


@pytest.fixture
def case(db: sessionmaker[Session]) -> str:
    """A case for which 129.00 CNY was paid."""
    return create(db, f.case_request())[0]


def test_reserving_the_same_decision_twice_returns_one_row(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        first = refunds.reserve_refund(session, case, 7, cny("100.00"))
        assert (first.status, first.idempotency_key) == ("pending", f"{case}-refund-7")
    with db.begin() as session:
        again = refunds.reserve_refund(session, case, 7, cny("100.00"))
        assert (again.case_id, again.seq, again.amount) == (case, 7, Decimal("100.00"))
    with db() as session:
        assert len(refunds.list_refunds(session, case)) == 1
        assert refunds.refunded_total(session, case) == cny("0.00")


def test_a_retry_with_another_amount_is_refused(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        refunds.reserve_refund(session, case, 1, cny("10.00"))
    with db.begin() as session, pytest.raises(RefundConflict):
        refunds.reserve_refund(session, case, 1, cny("20.00"))


def test_refunds_never_exceed_what_was_paid(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        refunds.reserve_refund(session, case, 1, cny("100.00"))
    with db.begin() as session, pytest.raises(RefundLimitExceeded):
        refunds.reserve_refund(session, case, 2, cny("29.01"))
    with db.begin() as session:
        refunds.reserve_refund(session, case, 2, cny("29.00"))  # exactly what is left
    with db.begin() as session:
        refunds.mark_refund(session, case, 1, "succeeded", "rf_1")
        refunds.mark_refund(session, case, 2, "unknown")
    with db() as session:
        # An unclear refund may have paid: it still counts against the limit, not as refunded.
        assert refunds.refunded_total(session, case) == cny("100.00")
    with db.begin() as session, pytest.raises(RefundLimitExceeded):
        refunds.reserve_refund(session, case, 3, cny("0.01"))


def test_a_failed_refund_frees_its_amount(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        refunds.reserve_refund(session, case, 1, cny("129.00"))
        refunds.mark_refund(session, case, 1, "failed")
    with db.begin() as session:
        row = refunds.reserve_refund(session, case, 2, cny("129.00"))
        assert row.status == "pending"
    with db.begin() as session:
        refunds.mark_refund(session, case, 2, "succeeded", "rf_2")
    with db() as session:
        assert refunds.refunded_total(session, case) == cny("129.00")
        assert [(r.seq, r.status) for r in refunds.list_refunds(session, case)] == [
            (1, "failed"),
            (2, "succeeded"),
        ]


def test_a_succeeded_refund_stays_succeeded(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        refunds.reserve_refund(session, case, 1, cny("5.00"))
        refunds.mark_refund(session, case, 1, "succeeded", "rf_9")
        refunds.mark_refund(session, case, 1, "unknown")
    with db() as session:
        [row] = refunds.list_refunds(session, case)
        assert (row.status, row.provider_refund_id) == ("succeeded", "rf_9")


def test_ledger_inputs_are_checked(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        with pytest.raises(RefundLimitExceeded):
            refunds.reserve_refund(session, case, 1, Money(amount=Decimal("1.00"), currency="USD"))
        with pytest.raises(LookupError):
            refunds.reserve_refund(session, "AS20260101NOPE", 1, cny("1.00"))
        refunds.reserve_refund(session, case, 1, cny("1.00"))
        with pytest.raises(ValueError):
            refunds.mark_refund(session, case, 1, "paid")
        with pytest.raises(LookupError):
            refunds.mark_refund(session, case, 99, "failed")


def test_concurrent_decisions_never_over_refund(db: sessionmaker[Session], case: str) -> None:
    """Eight decisions of 40.00 against 129.00 paid: at most three may be reserved."""
    start = threading.Barrier(8)

    def reserve(seq: int) -> bool:
        start.wait()
        try:
            with db.begin() as session:
                refunds.reserve_refund(session, case, seq, cny("40.00"))
            return True
        except RefundLimitExceeded:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(reserve, range(1, 9)))
    assert sum(results) == 3
    with db() as session:
        assert sum(r.amount for r in refunds.list_refunds(session, case)) == Decimal("120.00")


def close(db: sessionmaker[Session], cid: str) -> None:
    """The case closes (its order lines are free for a new case)."""
    with db() as session:
        row = get_case(session, cid)
        assert row is not None
        view = f.moved(CaseView.model_validate(row.view), Step.CLOSED)
    with db.begin() as session:
        progress.apply_progress(session, f.progress(view, 99))


def test_a_second_case_of_a_line_cannot_refund_what_the_first_one_did(db: sessionmaker[Session]) -> None:
    """Case A refunds line L1 in full and closes; case B on the same line gets nothing."""
    request = f.case_request()
    first = create(db, request)[0]
    with db.begin() as session:
        refunds.reserve_refund(session, first, 1, cny("129.00"))
        refunds.mark_refund(session, first, 1, "succeeded", "rf_a")
    close(db, first)
    second = create(db, request)[0]
    with db() as session:
        assert refunds.refunded_on_lines(session, request.order.order_id, ["L1"], "CNY") == cny("129.00")
    with db.begin() as session, pytest.raises(RefundLimitExceeded, match="across all their cases"):
        refunds.reserve_refund(session, second, 1, cny("0.01"))


def test_a_refund_is_split_over_the_lines_of_its_case_and_each_line_keeps_its_ceiling(
    db: sessionmaker[Session],
) -> None:
    both = f.case_request(line_ids=("L1", "L2"))  # 129.00 + 59.00
    first = create(db, both)[0]
    with db.begin() as session:
        refunds.reserve_refund(session, first, 1, cny("150.00"))  # L1 in full, 21.00 of L2
    close(db, first)
    only_l2 = f.case_request(order_id=both.order.order_id, line_ids=("L2",))
    second = create(db, only_l2)[0]
    with db.begin() as session, pytest.raises(RefundLimitExceeded):
        refunds.reserve_refund(session, second, 1, cny("38.01"))
    with db.begin() as session:
        refunds.reserve_refund(session, second, 1, cny("38.00"))


def test_a_refused_refund_gives_its_lines_back(db: sessionmaker[Session]) -> None:
    request = f.case_request()
    first = create(db, request)[0]
    with db.begin() as session:
        refunds.reserve_refund(session, first, 1, cny("129.00"))
        refunds.mark_refund(session, first, 1, "failed")
        refunds.mark_refund(session, first, 1, "succeeded", "late")  # failed is final
    with db() as session:
        assert refunds.refunded_on_lines(session, request.order.order_id, ["L1"], "CNY") == cny("0.00")
        assert refunds.list_refunds(session, first)[0].status == "failed"


def test_a_later_case_naming_another_price_for_a_recorded_line_is_refused(db: sessionmaker[Session]) -> None:
    request = f.case_request()
    close(db, create(db, request)[0])
    with pytest.raises(OrderLineMismatch):
        create(db, f.case_request(order_id=request.order.order_id, prices=("999.00", "59.00")))


def test_cases_of_one_line_refunding_at_once_never_exceed_what_the_line_was_paid(
    db: sessionmaker[Session],
) -> None:
    """Race-proof in the store: eight cases' decisions of 40.00 on one 129.00 line, all at once."""
    request = f.case_request()
    cases = []
    for _ in range(8):
        cid = create(db, request)[0]
        close(db, cid)  # the next case may claim the line; their refunds still share its ceiling
        cases.append(cid)
    start = threading.Barrier(8)

    def reserve(cid: str) -> bool:
        start.wait()
        try:
            with db.begin() as session:
                refunds.reserve_refund(session, cid, 1, cny("40.00"))
            return True
        except RefundLimitExceeded:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(reserve, cases))
    assert sum(results) == 3
    with db() as session:
        assert refunds.refunded_on_lines(session, request.order.order_id, ["L1"], "CNY") == cny("120.00")
