"""Golden audit rows: one case's trail exactly as the store wrote it before the typed vocabulary
(frozen from `apply_progress` at fb0824f, personal fields sealed with the test codec key). Whatever
the store becomes, these rows must still verify, rebuild the same projection and read through the
typed payload models, in both the older (top-level) and the newer (`private`) form of free text."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Numeric, Table, insert
from sqlalchemy.orm import Session, sessionmaker

from domain.audit import ApprovalPayload, NotePayload, SurveyPayload, parse_payload
from store import audit
from store.models import CaseDataKeyRow, CaseRow, EventRow, UtcDateTime

GOLDEN = Path(__file__).parent / "golden" / "audit_rows_fb0824f.json"
CASE_ID = "AS20261102GOLDEN0001"


def typed_row(table: Table, stored: dict[str, Any]) -> dict[str, Any]:
    """A dumped row with its datetimes and amounts back in their Python types."""
    row = dict(stored)
    for column in table.columns:
        value = row.get(column.name)
        if value is None:
            continue
        if isinstance(column.type, UtcDateTime):
            row[column.name] = datetime.fromisoformat(value)
        elif isinstance(column.type, Numeric):
            row[column.name] = Decimal(value)
    return row


@pytest.fixture(scope="module")
def golden(db: sessionmaker[Session]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text())
    tables = [(CaseRow, [doc["case"]]), (CaseDataKeyRow, [doc["data_key"]]), (EventRow, doc["events"])]
    with db.begin() as session:
        for model, rows in tables:
            table = model.__table__
            assert isinstance(table, Table)
            session.execute(insert(table), [typed_row(table, row) for row in rows])
    return doc


def test_audit_rows_stored_before_the_typed_vocabulary_still_verify(
    db: sessionmaker[Session], golden: dict[str, Any]
) -> None:
    with db() as session:
        assert [row.seq for row in audit.list_events(session, CASE_ID)] == list(range(1, 18))
        assert audit.verify_chain(session, CASE_ID) == []


def test_the_projection_rebuilt_from_those_rows_is_the_closed_refunded_case(
    db: sessionmaker[Session], golden: dict[str, Any]
) -> None:
    with db() as session:
        rebuilt = audit.rebuild_projection(session, CASE_ID)
    assert (rebuilt.step, rebuilt.status, rebuilt.close_reason) == ("closed", "closed", "resolved")
    assert rebuilt.refunded == Decimal("129.00") and rebuilt.sla_breached


def test_their_free_text_reads_through_the_typed_models_in_the_older_and_the_newer_form(
    db: sessionmaker[Session], golden: dict[str, Any]
) -> None:
    with db() as session:
        opened = {
            row.seq: parse_payload(row.kind, audit.event_payload(session, row))
            for row in audit.list_events(session, CASE_ID)
        }
    newer_note, older_note = opened[6], opened[7]
    assert isinstance(newer_note, NotePayload) and newer_note.text == "客户来电 说水壶还在漏"
    assert isinstance(older_note, NotePayload) and older_note.text == "older note, text at the top"
    assert older_note.visibility == "merchant"
    approvals = [opened[10], opened[11]]
    assert [(p.decision, p.comment) for p in approvals if isinstance(p, ApprovalPayload)] == [
        ("reject", "older comment at the top"),
        ("approve", "金额合理"),
    ]
    surveys = [opened[14], opened[15]]
    assert [(p.csat, p.nps, p.comment) for p in surveys if isinstance(p, SurveyPayload)] == [
        (4, 7, "older comment"),
        (5, 9, "客服很耐心"),
    ]
