"""Personal data at rest (audit item 14): sealed with a per-case data key wrapped by the codec key ring,
readable through the repository, findable by phone through a keyed hash, and rotatable."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.models import CaseView
from store import audit, cases, personal, progress
from store.db import make_session_factory
from store.models import NoteRow, SurveyRow
from store.vault import is_sealed
from tests.store import factories as f
from tests.store.helpers import create
from tests.support.keys import TEST_CODEC_KEYS, vault_for_tests

NAME, PHONE, ADDRESS = "张三", "+86 138 0000 0000", "上海市浦东新区"
DESCRIPTION = "The kettle leaks from the base."
NOTE = "客户来电 说水壶还在漏"
PRIVATE_REASON = "家里有小孩 很危险"
SURVEY_COMMENT = "客服很耐心"
SECRETS = [NAME, PHONE, "138 0000 0000", ADDRESS, "浦东", DESCRIPTION, NOTE, PRIVATE_REASON, SURVEY_COMMENT]
OTHER_KEY = "k2:" + "Qk" * 21 + "Q="  # 32 bytes of base64


def case_with_personal_events(db: sessionmaker[Session], **request: Any) -> str:
    cid, _ = create(db, f.case_request(**request))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        view = CaseView.model_validate(row.view)
    events = [
        f.event(cid, 1, "note", payload={"text": NOTE, "visibility": "internal"}),
        f.event(cid, 2, "declined", payload={"private": {"reason": PRIVATE_REASON}, "round": 1}),
        f.event(
            cid, 3, "survey_answered", payload={"csat": 5, "nps": 9, "private": {"comment": SURVEY_COMMENT}}
        ),
    ]
    with db.begin() as session:
        progress.apply_progress(session, f.progress(f.moved(view, Step.FOLLOW_UP), 1, events))
    return cid


def raw_text(session: Session, sql: str, cid: str) -> str:
    """What a reader of the database (a dump, a replica, a DBA) sees, with JSON's \\u escapes undone."""
    shown = []
    for value in session.execute(text(sql), {"c": cid}).scalars().all():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                shown.append(value)
                continue
        shown.append(json.dumps(value, ensure_ascii=False))
    return " ".join(shown)


def test_raw_rows_hold_no_name_phone_address_description_or_customer_text(db: sessionmaker[Session]) -> None:
    cid = case_with_personal_events(db)
    with db() as session:
        stored = " ".join(
            raw_text(session, sql, cid)
            for sql in (
                "SELECT request FROM cases WHERE case_id = :c",
                "SELECT payload FROM case_events WHERE case_id = :c",
                "SELECT text FROM case_notes WHERE case_id = :c",
                "SELECT comment FROM surveys WHERE case_id = :c",
                "SELECT contact_phone_hash FROM cases WHERE case_id = :c",
            )
        )
    for secret in SECRETS:
        assert secret not in stored, f"{secret!r} is stored in plain text"
    assert "Electric kettle" in stored and "return_and_refund" in stored  # the rest stays readable


def test_the_repository_opens_what_it_sealed(db: sessionmaker[Session]) -> None:
    cid = case_with_personal_events(db)
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None and is_sealed(row.request["contact"])
        request = cases.request_of(session, row)
        events = audit.list_events(session, cid)
        payloads = [audit.event_payload(session, e) for e in events]
        note = session.get(NoteRow, (cid, 1))
        survey = session.get(SurveyRow, (cid, 3))
        assert note is not None and survey is not None
        texts = audit.note_text(session, note), audit.survey_comment(session, survey)
    assert request["contact"] == {
        "name": NAME, "phone": PHONE, "address": ADDRESS, "email": None, "channel": None,
    }  # fmt: skip
    assert request["description"] == DESCRIPTION
    assert payloads[0] == {"text": NOTE, "visibility": "internal"}
    assert payloads[1] == {"private": {"reason": PRIVATE_REASON}, "round": 1}
    assert payloads[2]["private"] == {"comment": SURVEY_COMMENT}
    assert texts == (NOTE, SURVEY_COMMENT)


def test_the_audit_chain_verifies_without_any_key(db: sessionmaker[Session], engine: Engine) -> None:
    cid = case_with_personal_events(db)
    keyless = make_session_factory(engine)
    with keyless() as session:
        assert audit.verify_chain(session, cid) == []
        with pytest.raises(personal.VaultMissing):
            cases.request_of(session, cases.get_case(session, cid))  # type: ignore[arg-type]


def test_a_sealed_value_copied_to_another_case_does_not_open(db: sessionmaker[Session]) -> None:
    victim, thief = case_with_personal_events(db), case_with_personal_events(db)
    with db.begin() as session:
        stolen = session.execute(text("SELECT request FROM cases WHERE case_id = :c"), {"c": victim}).scalar()
        session.execute(
            text("UPDATE cases SET request = :r WHERE case_id = :c"),
            {"r": stolen if isinstance(stolen, str) else json.dumps(stolen), "c": thief},
        )
    with db() as session, pytest.raises(InvalidTag):
        cases.request_of(session, cases.get_case(session, thief))  # type: ignore[arg-type]


def test_cases_are_found_by_phone_whatever_its_spacing(db: sessionmaker[Session]) -> None:
    phone = f"+86 139 {secrets.randbelow(10**4):04d} {secrets.randbelow(10**4):04d}"
    contact = {"name": "李四", "phone": phone, "address": "杭州市"}
    first, _ = create(db, f.case_request(contact=contact))
    second, _ = create(db, f.case_request(contact={**contact, "phone": phone.replace(" ", "-")}))
    other, _ = create(db, f.case_request())
    with db() as session:
        found = [row.case_id for row in cases.find_cases_by_phone(session, phone.replace(" ", ""))]
        stored_hash = cases.get_case(session, first).contact_phone_hash  # type: ignore[union-attr]
    assert sorted(found) == sorted([first, second]) and other not in found
    assert stored_hash is not None and len(stored_hash) == 64 and phone not in stored_hash


def test_rotation_new_wraps_use_the_new_key_and_rewrap_retires_the_old(engine: Engine) -> None:
    old_only = make_session_factory(engine, vault_for_tests())
    both_keys = f"{TEST_CODEC_KEYS},{OTHER_KEY}"
    rotated = make_session_factory(engine, vault_for_tests(both_keys, current="k2"))
    new_only = make_session_factory(engine, vault_for_tests(OTHER_KEY))
    before = case_with_personal_events(old_only)
    after = case_with_personal_events(rotated)
    with rotated() as session:
        assert session.execute(
            text("SELECT key_id FROM case_data_keys WHERE case_id IN (:a, :b) ORDER BY key_id"),
            {"a": before, "b": after},
        ).scalars().all() == ["k2", "test-1"]
        row = cases.get_case(session, before)
        assert row is not None and cases.request_of(session, row)["contact"]["name"] == NAME
    while True:
        with rotated.begin() as session:
            if personal.rewrap_data_keys(session, limit=50) == 0:
                break
    with new_only() as session:
        assert personal.data_keys_by_wrapping_key(session).keys() == {"k2"}
        for cid in (before, after):
            row = cases.get_case(session, cid)
            assert row is not None and cases.request_of(session, row)["description"] == DESCRIPTION
            note = session.get(NoteRow, (cid, 1))
            assert note is not None and audit.note_text(session, note) == NOTE
    # Back to the shared test key, so other tests of this session can read every case.
    while True:
        with make_session_factory(engine, vault_for_tests(both_keys, current="test-1")).begin() as session:
            if personal.rewrap_data_keys(session, limit=50) == 0:
                break


def test_rows_written_before_sealing_still_read_and_can_be_sealed_later(
    db: sessionmaker[Session], engine: Engine
) -> None:
    cid = case_with_personal_events(db)
    plain_request = f.case_request().model_dump(mode="json")
    with db.begin() as session:  # the row as the previous version wrote it
        session.execute(text("DELETE FROM case_data_keys WHERE case_id = :c"), {"c": cid})
        session.execute(
            text("UPDATE cases SET request = :r, contact_phone_hash = NULL WHERE case_id = :c"),
            {"r": json.dumps(plain_request, ensure_ascii=False), "c": cid},
        )
        session.execute(text("UPDATE case_notes SET text = :t WHERE case_id = :c"), {"t": NOTE, "c": cid})
    with make_session_factory(engine)() as session:  # plain rows read without any key
        row = cases.get_case(session, cid)
        assert row is not None and cases.request_of(session, row)["contact"]["phone"] == PHONE
        note = session.get(NoteRow, (cid, 1))
        assert note is not None and audit.note_text(session, note) == NOTE
    with db.begin() as session:
        after: str | None = None
        sealed = 0
        while True:
            count, after = personal.seal_legacy_cases(session, after, limit=200)
            sealed += count
            if after is None:
                break
        assert sealed >= 1
        while personal.seal_legacy_texts(session, limit=200):
            pass
    with db() as session:
        assert cid in [r.case_id for r in cases.find_cases_by_phone(session, PHONE)]
        assert NOTE not in raw_text(session, "SELECT text FROM case_notes WHERE case_id = :c", cid)
        assert NAME not in raw_text(session, "SELECT request FROM cases WHERE case_id = :c", cid)
        row = cases.get_case(session, cid)
        assert row is not None and cases.request_of(session, row)["contact"]["name"] == NAME
