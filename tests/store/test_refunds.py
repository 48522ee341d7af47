"""The refund ledger: one row per money-moving decision, never more than was paid."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.money import Money
from store import repository
from store.errors import RefundConflict, RefundLimitExceeded
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
        first = repository.reserve_refund(session, case, 7, cny("100.00"))
        assert (first.status, first.idempotency_key) == ("pending", f"{case}-refund-7")
    with db.begin() as session:
        again = repository.reserve_refund(session, case, 7, cny("100.00"))
        assert (again.case_id, again.seq, again.amount) == (case, 7, Decimal("100.00"))
    with db() as session:
        assert len(repository.list_refunds(session, case)) == 1
        assert repository.refunded_total(session, case) == cny("0.00")


def test_a_retry_with_another_amount_is_refused(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        repository.reserve_refund(session, case, 1, cny("10.00"))
    with db.begin() as session, pytest.raises(RefundConflict):
        repository.reserve_refund(session, case, 1, cny("20.00"))


def test_refunds_never_exceed_what_was_paid(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        repository.reserve_refund(session, case, 1, cny("100.00"))
    with db.begin() as session, pytest.raises(RefundLimitExceeded):
        repository.reserve_refund(session, case, 2, cny("29.01"))
    with db.begin() as session:
        repository.reserve_refund(session, case, 2, cny("29.00"))  # exactly what is left
    with db.begin() as session:
        repository.mark_refund(session, case, 1, "succeeded", "rf_1")
        repository.mark_refund(session, case, 2, "unknown")
    with db() as session:
        # An unclear refund may have paid: it still counts against the limit, not as refunded.
        assert repository.refunded_total(session, case) == cny("100.00")
    with db.begin() as session, pytest.raises(RefundLimitExceeded):
        repository.reserve_refund(session, case, 3, cny("0.01"))


def test_a_failed_refund_frees_its_amount(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        repository.reserve_refund(session, case, 1, cny("129.00"))
        repository.mark_refund(session, case, 1, "failed")
    with db.begin() as session:
        row = repository.reserve_refund(session, case, 2, cny("129.00"))
        assert row.status == "pending"
    with db.begin() as session:
        repository.mark_refund(session, case, 2, "succeeded", "rf_2")
    with db() as session:
        assert repository.refunded_total(session, case) == cny("129.00")
        assert [(r.seq, r.status) for r in repository.list_refunds(session, case)] == [
            (1, "failed"),
            (2, "succeeded"),
        ]


def test_a_succeeded_refund_stays_succeeded(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        repository.reserve_refund(session, case, 1, cny("5.00"))
        repository.mark_refund(session, case, 1, "succeeded", "rf_9")
        repository.mark_refund(session, case, 1, "unknown")
    with db() as session:
        [row] = repository.list_refunds(session, case)
        assert (row.status, row.provider_refund_id) == ("succeeded", "rf_9")


def test_ledger_inputs_are_checked(db: sessionmaker[Session], case: str) -> None:
    with db.begin() as session:
        with pytest.raises(RefundLimitExceeded):
            repository.reserve_refund(session, case, 1, Money(amount=Decimal("1.00"), currency="USD"))
        with pytest.raises(LookupError):
            repository.reserve_refund(session, "AS20260101NOPE", 1, cny("1.00"))
        repository.reserve_refund(session, case, 1, cny("1.00"))
        with pytest.raises(ValueError):
            repository.mark_refund(session, case, 1, "paid")
        with pytest.raises(LookupError):
            repository.mark_refund(session, case, 99, "failed")


def test_concurrent_decisions_never_over_refund(db: sessionmaker[Session], case: str) -> None:
    """Eight decisions of 40.00 against 129.00 paid: at most three may be reserved."""
    start = threading.Barrier(8)

    def reserve(seq: int) -> bool:
        start.wait()
        try:
            with db.begin() as session:
                repository.reserve_refund(session, case, seq, cny("40.00"))
            return True
        except RefundLimitExceeded:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(reserve, range(1, 9)))
    assert sum(results) == 3
    with db() as session:
        assert sum(r.amount for r in repository.list_refunds(session, case)) == Decimal("120.00")
