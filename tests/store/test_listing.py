"""Listing cases: filters and keyset pagination that stays stable while cases keep arriving."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.models import CaseView
from store import cases, listing, progress
from tests.store import factories as f
from tests.store.helpers import create


def page_through(db: sessionmaker[Session], merchant_id: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        with db() as session:
            rows, cursor = listing.list_cases(session, merchant_id=merchant_id, limit=limit, cursor=cursor)
            seen += [r.case_id for r in rows]
        if cursor is None:
            return seen


def test_pagination_is_stable_under_concurrent_inserts(db: sessionmaker[Session]) -> None:
    merchant = f.unique("M")
    # Several cases per timestamp, so the case id must break ties.
    existing: list[tuple[datetime, str]] = []
    for i in range(36):
        at = f.NOW - timedelta(minutes=i // 3)
        existing.append((at, create(db, f.case_request(merchant_id=merchant), at=at)[0]))
    expected = [cid for _, cid in sorted(existing, reverse=True)]

    stop = threading.Event()
    inserted: list[str] = []

    def keep_inserting() -> None:
        i = 0
        while not stop.is_set() and i < 200:
            # Newer cases, and cases stamped between existing ones (a slow request committing late).
            at = f.NOW + timedelta(seconds=i) if i % 2 else f.NOW - timedelta(minutes=i % 12, seconds=30)
            inserted.append(create(db, f.case_request(merchant_id=merchant), at=at)[0])
            i += 1

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    try:
        seen = page_through(db, merchant, limit=5)
    finally:
        stop.set()
        writer.join()

    assert len(seen) == len(set(seen)), "a case was listed twice"
    assert set(expected) <= set(seen), "a case older than the first page was skipped"
    assert [cid for cid in seen if cid in set(expected)] == expected
    with db() as session:
        order = [(r.created_at, r.case_id) for r in map(lambda c: cases.get_case(session, c), seen) if r]
    assert order == sorted(order, reverse=True)


def test_filters_and_created_range(db: sessionmaker[Session]) -> None:
    merchant = f.unique("M")
    old, _ = create(db, f.case_request(merchant_id=merchant), at=f.NOW - timedelta(days=3))
    new, _ = create(db, f.case_request(merchant_id=merchant, issue_type="exchange"), at=f.NOW)
    with db() as session:
        row = cases.get_case(session, new)
        assert row is not None
        view = f.moved(CaseView.model_validate(row.view), Step.DISPUTE, sla_breached=True)
    with db.begin() as session:
        progress.apply_progress(session, f.progress(view, 1, [f.event(new, 1)]))

    def ids(**filters: Any) -> list[str]:
        with db() as session:
            rows, _ = listing.list_cases(session, merchant_id=merchant, **filters)
            return [r.case_id for r in rows]

    assert ids() == [new, old]
    assert ids(status="processing") == [new]
    assert ids(step="dispute") == [new]
    assert ids(step="submitted", status="pending") == [old]
    assert ids(issue_type="exchange") == [new]
    assert ids(breached=True) == [new]
    assert ids(breached=False) == [old]
    assert ids(created_from=f.NOW - timedelta(days=1)) == [new]
    assert ids(created_to=f.NOW - timedelta(days=1)) == [old]
    assert ids(created_from=f.NOW - timedelta(days=4), created_to=f.NOW) == [old]


def test_a_cursor_is_opaque_and_checked(db: sessionmaker[Session]) -> None:
    merchant = f.unique("M")
    for i in range(3):
        create(db, f.case_request(merchant_id=merchant), at=f.NOW - timedelta(hours=i))
    with db() as session:
        first, cursor = listing.list_cases(session, merchant_id=merchant, limit=2)
        assert cursor is not None and "|" not in cursor
        rest, end = listing.list_cases(session, merchant_id=merchant, limit=2, cursor=cursor)
        assert len(first) == 2 and len(rest) == 1 and end is None
        exact, none_left = listing.list_cases(session, merchant_id=merchant, limit=3)
        assert len(exact) == 3 and none_left is None
        for bad in ("not-a-cursor", "Zm9vYmFy", ""):
            if bad:
                with pytest.raises(ValueError):
                    listing.list_cases(session, cursor=bad)
        with pytest.raises(ValueError):
            listing.list_cases(session, limit=0)
