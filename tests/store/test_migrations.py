"""The migrations build exactly the schema the models describe, and undo it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, Table, inspect, select, text

from core.settings import get_settings
from store.db import make_engine
from store.migrate import alembic_config, downgrade, main, upgrade
from store.models import Base, CaseRow

INITIAL_TABLES = {"cases", "case_events", "open_case_lines", "refunds", "calendar_overrides", "api_keys"}
TABLES = INITIAL_TABLES | {"scheduled_reports",
    "approvals", "surveys", "calendar_hours", "freezes", "outbox", "people", "messages",
    "quality_checklist_items", "quality_reviews", "callbacks", "scorecard_rules", "scorecard_entries",
    "report_cases", "report_case_items",
}  # fmt: skip


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_models_and_migrations_agree(engine: Engine, db_url: str) -> None:
    assert differences(engine) == []
    assert current_revision(engine) == head_revision(db_url)


def test_migrations_go_up_down_to_base_and_up_again(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        upgrade(fresh_db_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
        downgrade(fresh_db_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
        upgrade(fresh_db_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_the_initial_revision_alone_is_reversible(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        upgrade(fresh_db_url, "0001")
        assert set(inspect(engine).get_table_names()) >= INITIAL_TABLES
        assert current_revision(engine) == "0001"
        downgrade(fresh_db_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_the_cli_migrates_the_configured_database(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()
    try:
        assert main(["upgrade"]) == 0
        engine = make_engine(fresh_db_url)
        assert current_revision(engine) == head_revision(fresh_db_url)
        assert main(["downgrade", "base"]) == 0
        assert current_revision(engine) is None
        engine.dispose()
    finally:
        get_settings.cache_clear()


def test_0009_puts_existing_cases_in_general_with_their_earliest_deadline_as_due(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        upgrade(fresh_db_url, "0008")
        cases = Table("cases", MetaData(), autoload_with=engine)
        at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        row = {
            "workflow_id": "case-x", "request_hash": "0" * 64, "request": {}, "order_id": "O-1",
            "merchant_id": "M-1", "customer_id": "C-1", "issue_type": "exchange", "reason": "other",
            "step": "merchant_verification", "priority": "normal", "sla_breached": False,
            "paid_amount": 1, "refunded_amount": 0, "currency": "CNY", "view": {}, "version": 1,
            "created_at": at, "updated_at": at,
        }  # fmt: skip
        deadlines = {
            "merchant_verification": "2026-11-03T09:00:00+00:00",
            "platform": "2026-11-20T09:00:00+00:00",
        }
        with engine.begin() as connection:
            connection.execute(
                cases.insert(),
                [
                    {**row, "case_id": "AS-OPEN", "status": "processing", "deadlines": deadlines},
                    {**row, "case_id": "AS-CLOSED", "status": "closed", "deadlines": deadlines},
                ],
            )
        upgrade(fresh_db_url)
        with engine.connect() as connection:
            found = {
                case_id: queue
                for case_id, queue in connection.execute(text("SELECT case_id, queue FROM cases"))
            }
            due = connection.execute(select(CaseRow.case_id, CaseRow.due_at).order_by(CaseRow.case_id)).all()
        assert found == {"AS-CLOSED": "general", "AS-OPEN": "general"}
        assert [tuple(r) for r in due] == [
            ("AS-CLOSED", None),
            ("AS-OPEN", datetime(2026, 11, 3, 9, tzinfo=UTC)),
        ]
    finally:
        engine.dispose()
