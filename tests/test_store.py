"""The case store on PostgreSQL (when DATABASE_URL is set, as in CI) or SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.orm import Session, sessionmaker

from api.ids import new_case_id
from api.routes_cases import _initial_view
from domain.enums import CaseStatus, CloseReason, Step
from domain.models import CaseEvent, CaseProgress, CaseProjection, CaseRequest, CaseView
from domain.money import Money
from store import audit, cases, keys, listing, refunds
from store.db import make_engine, make_session_factory
from store.errors import IdempotencyConflict, OpenCaseExists, RefundLimitExceeded
from store.migrate import downgrade, upgrade
from store.models import EventRow
from store.progress import apply_progress
from tests.support.cases import kettle_request
from tests.support.databases import scratch_database
from tests.support.keys import vault_for_tests

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with scratch_database(tmp_path_factory.mktemp("store"), "aftersales_store") as url:
        upgrade(url)
        engine = make_engine(url)
        yield make_session_factory(engine, vault_for_tests())
        engine.dispose()


def create(
    db: sessionmaker[Session], req: CaseRequest, key: str | None = None, at: datetime = NOW
) -> tuple[str, bool]:
    case_id = new_case_id(at)
    with db.begin() as session:
        row, created = cases.create_case(
            session, case_id, f"case-{case_id}", key, req, _initial_view(case_id, req, at)
        )
        return row.case_id, created


def progress(view: CaseView, version: int, *events: tuple[int, str]) -> CaseProgress:
    return CaseProgress(
        projection=CaseProjection(version=version, customer_id="C-42", view=view),
        events=[
            CaseEvent(
                case_id=view.case_id, seq=seq, at=NOW, kind=kind, step=view.step, actor="system", summary=kind
            )
            for seq, kind in events
        ],
    )


def stored_view(db: sessionmaker[Session], case_id: str) -> CaseView:
    with db() as session:
        row = cases.get_case(session, case_id)
        assert row is not None
        return CaseView.model_validate(row.view)


def test_migrations_go_up_down_and_up_again(tmp_path_factory: pytest.TempPathFactory) -> None:
    with scratch_database(tmp_path_factory.mktemp("mig"), "aftersales_mig") as url:
        upgrade(url)
        engine = make_engine(url)
        assert {"cases", "case_events", "refunds", "api_keys"} <= set(inspect(engine).get_table_names())
        downgrade(url, "base")
        assert "cases" not in inspect(engine).get_table_names()
        upgrade(url)
        assert "cases" in inspect(engine).get_table_names()
        engine.dispose()


def test_the_same_idempotency_key_creates_one_case(db: sessionmaker[Session]) -> None:
    req = kettle_request(NOW)
    first = create(db, req, "store-key-1")
    again = create(db, req, "store-key-1")
    assert first[1] and not again[1] and first[0] == again[0]
    with pytest.raises(IdempotencyConflict):
        create(db, req.model_copy(update={"description": "other"}), "store-key-1")


def test_concurrent_creates_with_one_key_race_safely(db: sessionmaker[Session]) -> None:
    req = kettle_request(NOW)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: create(db, req, "store-race-1"), range(8)))
    assert len({case_id for case_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_one_open_case_per_order_line_until_it_closes(db: sessionmaker[Session]) -> None:
    req = kettle_request(NOW)
    case_id, _ = create(db, req)
    with pytest.raises(OpenCaseExists) as blocked:
        create(db, req)
    assert blocked.value.case_id == case_id
    closed = stored_view(db, case_id).model_copy(
        update={"step": Step.CLOSED, "status": CaseStatus.CLOSED, "close_reason": CloseReason.WITHDRAWN}
    )
    with db.begin() as session:
        apply_progress(session, progress(closed, 1, (1, "closed")))
    assert create(db, req)[1]


def test_a_retried_progress_write_writes_nothing_twice(db: sessionmaker[Session]) -> None:
    case_id, _ = create(db, kettle_request(NOW))
    view = stored_view(db, case_id).model_copy(update={"step": Step.MERCHANT_VERIFICATION})
    write = progress(view, 1, (1, "intake"), (2, "step"))
    for _ in range(3):
        with db.begin() as session:
            apply_progress(session, write)
    with db() as session:
        assert [e.seq for e in audit.list_events(session, case_id)] == [1, 2]
        row = cases.get_case(session, case_id)
        assert row is not None and row.version == 1 and row.step == "merchant_verification"


def test_an_older_projection_never_overwrites_a_newer_one(db: sessionmaker[Session]) -> None:
    case_id, _ = create(db, kettle_request(NOW))
    base = stored_view(db, case_id)
    with db.begin() as session:
        apply_progress(session, progress(base.model_copy(update={"step": Step.FOLLOW_UP}), 5))
        apply_progress(session, progress(base.model_copy(update={"step": Step.REFUNDING}), 4))
    assert stored_view(db, case_id).step == Step.FOLLOW_UP


def test_the_audit_chain_verifies_and_a_tampered_row_is_detected(db: sessionmaker[Session]) -> None:
    case_id, _ = create(db, kettle_request(NOW))
    view = stored_view(db, case_id)
    with db.begin() as session:
        apply_progress(session, progress(view, 1, (1, "intake"), (2, "step"), (3, "refunded")))
    with db() as session:
        assert audit.verify_chain(session, case_id) == []
    with db.begin() as session:
        session.execute(
            update(EventRow).where(EventRow.case_id == case_id, EventRow.seq == 2).values(summary="edited")
        )
    with db() as session:
        problems = audit.verify_chain(session, case_id)
    assert [(p.seq, p.problem) for p in problems] == [(2, "row content does not match its hash")]


def test_refunds_never_exceed_what_was_paid(db: sessionmaker[Session]) -> None:
    case_id, _ = create(db, kettle_request(NOW))  # paid 129.00
    with db.begin() as session:
        first = refunds.reserve_refund(session, case_id, 1, Money(amount=Decimal("100.00")))
        again = refunds.reserve_refund(session, case_id, 1, Money(amount=Decimal("100.00")))
        assert first.idempotency_key == again.idempotency_key == f"{case_id}-refund-1"
        refunds.mark_refund(session, case_id, 1, "succeeded", "ref_1")
    with db.begin() as session, pytest.raises(RefundLimitExceeded):
        refunds.reserve_refund(session, case_id, 2, Money(amount=Decimal("29.01")))
    with db.begin() as session:
        refunds.reserve_refund(session, case_id, 2, Money(amount=Decimal("29.00")))
    with db() as session:
        assert refunds.refunded_total(session, case_id).amount == Decimal("100.00")


def test_pagination_is_stable_under_concurrent_inserts(db: sessionmaker[Session]) -> None:
    merchant = "M-PAGE"

    def new_case(at: datetime) -> str:
        data = kettle_request(NOW).model_dump(mode="json")
        data["order"]["merchant_id"] = merchant
        return create(db, CaseRequest.model_validate(data), at=at)[0]

    # Two cases share a timestamp: the case id breaks the tie.
    original = {new_case(NOW + timedelta(minutes=min(i, 5))) for i in range(7)}
    seen: list[str] = []
    with db() as session:
        page, cursor = listing.list_cases(session, merchant_id=merchant, limit=3)
    seen += [r.case_id for r in page]
    new_case(NOW + timedelta(hours=1))  # newer than every page: lands before the first
    new_case(NOW + timedelta(minutes=5))  # ties with the newest: lands wherever its id sorts
    while cursor:
        with db() as session:
            page, cursor = listing.list_cases(session, merchant_id=merchant, limit=3, cursor=cursor)
        seen += [r.case_id for r in page]
    assert len(seen) == len(set(seen)), "no case twice"
    assert original <= set(seen), "no case skipped"


def test_api_keys_are_stored_hashed_and_revocable(db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        key_id, plaintext = keys.create_api_key(session, "merchant", "M-100", "test")
    with db() as session:
        found = keys.find_api_key(session, plaintext)
        assert found is not None and found.role == "merchant" and found.merchant_id == "M-100"
        assert plaintext not in str(session.execute(text("SELECT key_hash FROM api_keys")).all())
    with db.begin() as session:
        assert keys.revoke_api_key(session, key_id)
    with db() as session:
        assert keys.find_api_key(session, plaintext) is None
