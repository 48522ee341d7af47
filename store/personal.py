"""Which case-store fields hold personal data, and sealing and opening them with the case's data key.

Sealed at rest (store.vault): in `cases.request` the `contact` and the `description`; `case_notes.text`;
`surveys.comment`; in `case_events.payload` the value under `private` and the `text` of `note` events.
Everything else is stored as is, and the audit hash chain hashes what is stored, so it verifies
without keys. Values written before sealing existed are plain and read as they are.

The vault travels with the session (`make_session_factory(engine, vault)`); reading plain rows needs
none, writing or opening personal data does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.audit import EventKind
from store.models import CaseDataKeyRow, CaseRow, EventRow, MessageRow, NoteRow, SurveyRow
from store.vault import SEALED_PREFIX, PersonalDataVault, WrappedKey, is_sealed, open_sealed, seal

REQUEST_FIELDS = ("contact", "description")
PRIVATE = "private"
VAULT = "vault"
_DATA_KEYS = "data_keys"  # per-session cache of unwrapped data keys, by case id


class VaultMissing(RuntimeError):
    """Personal data was to be sealed or opened by a session made without the key ring."""


def vault_of(session: Session) -> PersonalDataVault:
    vault = session.info.get(VAULT)
    if not isinstance(vault, PersonalDataVault):
        raise VaultMissing(
            "this store session has no key ring for personal data: "
            "make it with store.db.make_session_factory(engine, store.configured.vault_for(settings))"
        )
    return vault


def new_data_key(session: Session, case_id: str) -> CaseDataKeyRow:
    """A fresh data key for a case, wrapped by the current codec key (the caller adds the row)."""
    key, row = fresh_data_key(vault_of(session), case_id)
    remember_data_key(session, case_id, key)
    return row


def fresh_data_key(vault: PersonalDataVault, case_id: str) -> tuple[bytes, CaseDataKeyRow]:
    """A fresh data key and its row (wrapped by the current codec key), made without the store: a new
    case's sealing happens before its write transaction, outside SQLite's writer turn."""
    key = vault.new_data_key()
    wrapped = vault.wrap(key, case_id)
    now = datetime.now(UTC)
    row = CaseDataKeyRow(
        case_id=case_id, key_id=wrapped.key_id, wrapped_key=wrapped.wrapped, created_at=now, updated_at=now
    )
    return key, row


def remember_data_key(session: Session, case_id: str, key: bytes) -> None:
    """Later sealing in this session uses `key` (its row is added by the caller)."""
    _cache(session)[case_id] = key


def data_key(session: Session, case_id: str, *, create: bool = False) -> bytes:
    """The case's data key; with `create`, one is made for a case stored before sealing existed."""
    cached = _cache(session).get(case_id)
    if cached is not None:
        return cached
    row = session.get(CaseDataKeyRow, case_id)
    if row is None and create:
        # Writers of one case take turns on its row (as apply_progress does), so two of them never
        # both make a first data key for it; the second finds the first's.
        session.get(CaseRow, case_id, with_for_update=True)
        row = session.get(CaseDataKeyRow, case_id, populate_existing=True)
        if row is None:
            session.add(new_data_key(session, case_id))
            session.flush()
            return _cache(session)[case_id]
    if row is None:
        raise LookupError(f"case {case_id} has sealed personal data but no data key")
    key = vault_of(session).unwrap(WrappedKey(row.key_id, row.wrapped_key), case_id)
    _cache(session)[case_id] = key
    return key


def _cache(session: Session) -> dict[str, bytes]:
    cache: dict[str, bytes] = session.info.setdefault(_DATA_KEYS, {})
    return cache


# --- where each personal field lives (bound into its ciphertext) ---------------------------------


def _request_at(case_id: str, name: str) -> str:
    return f"{case_id}/request/{name}"


def _event_at(case_id: str, seq: int, name: str) -> str:
    return f"{case_id}/event/{seq}/{name}"


def _note_at(case_id: str, seq: int) -> str:
    return f"{case_id}/note/{seq}/text"


def _survey_at(case_id: str, seq: int) -> str:
    return f"{case_id}/survey/{seq}/comment"


def _message_at(case_id: str, message_id: str) -> str:
    return f"{case_id}/message/{message_id}/text"


def event_fields(kind: str, payload: dict[str, Any]) -> list[str]:
    """The personal fields of an audit event's payload."""
    names = [PRIVATE] if PRIVATE in payload else []
    if kind == EventKind.NOTE and "text" in payload:  # notes written before `private` existed
        names.append("text")
    return names


# --- sealing -------------------------------------------------------------------------------------


def seal_request(session: Session, case_id: str, request: dict[str, Any]) -> dict[str, Any]:
    return seal_request_with(data_key(session, case_id, create=True), case_id, request)


def seal_request_with(key: bytes, case_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """The request with its personal fields sealed by the case's data key `key`."""
    sealed = dict(request)
    for name in REQUEST_FIELDS:
        if name in sealed and not is_sealed(sealed[name]):
            sealed[name] = seal(key, sealed[name], _request_at(case_id, name))
    return sealed


def seal_event_payload(
    session: Session, case_id: str, seq: int, kind: str, payload: dict[str, Any]
) -> dict[str, Any]:
    names = event_fields(kind, payload)
    if not names:
        return payload
    key = data_key(session, case_id, create=True)
    return {
        name: seal(key, value, _event_at(case_id, seq, name)) if name in names else value
        for name, value in payload.items()
    }


def seal_note_text(session: Session, case_id: str, seq: int, text: str) -> str:
    return seal(data_key(session, case_id, create=True), text, _note_at(case_id, seq))


def seal_survey_comment(session: Session, case_id: str, seq: int, comment: str) -> str:
    if not comment:
        return comment
    return seal(data_key(session, case_id, create=True), comment, _survey_at(case_id, seq))


def seal_message_text(session: Session, case_id: str, message_id: str, text: str) -> str:
    return seal(data_key(session, case_id, create=True), text, _message_at(case_id, message_id))


# --- opening -------------------------------------------------------------------------------------


def _open(session: Session, case_id: str, value: Any, where: str) -> Any:
    if not is_sealed(value):
        return value  # written before sealing existed
    return open_sealed(data_key(session, case_id), value, where)


def open_request(session: Session, row: CaseRow) -> dict[str, Any]:
    """The case's request as the caller sent it."""
    request = dict(row.request)
    for name in REQUEST_FIELDS:
        if name in request:
            request[name] = _open(session, row.case_id, request[name], _request_at(row.case_id, name))
    return request


def open_event_payload(session: Session, row: EventRow) -> dict[str, Any]:
    return open_event_fields(session, row.case_id, row.seq, row.kind, row.payload)


def open_event_fields(
    session: Session, case_id: str, seq: int, kind: str, stored: dict[str, Any] | None
) -> dict[str, Any]:
    """An audit event's stored payload with its personal fields opened (the feed reads columns,
    not rows)."""
    payload = dict(stored or {})
    for name in event_fields(kind, payload):
        payload[name] = _open(session, case_id, payload[name], _event_at(case_id, seq, name))
    return payload


def open_note_text(session: Session, row: NoteRow) -> str:
    return str(_open(session, row.case_id, row.text, _note_at(row.case_id, row.seq)))


def open_message_text(session: Session, row: MessageRow) -> str:
    return str(_open(session, row.case_id, row.text, _message_at(row.case_id, row.message_id)))


def open_survey_comment(session: Session, row: SurveyRow) -> str:
    return str(_open(session, row.case_id, row.comment, _survey_at(row.case_id, row.seq)))


# --- key rotation and rows from before sealing ---------------------------------------------------


def data_keys_by_wrapping_key(session: Session) -> dict[str, int]:
    """How many data keys each codec key wraps (webhook secrets: store.webhooks.secrets_by_sealing_key)."""
    query = select(CaseDataKeyRow.key_id, func.count()).group_by(CaseDataKeyRow.key_id)
    return {key_id: int(count) for key_id, count in session.execute(query)}


def rewrap_data_keys(session: Session, limit: int = 500) -> int:
    """Re-wrap up to `limit` data keys not wrapped by the current codec key; returns how many.

    Only the 32-byte data keys are re-encrypted, never the personal data. Call it until it returns 0.
    """
    vault = vault_of(session)
    rows = session.scalars(
        select(CaseDataKeyRow)
        .where(CaseDataKeyRow.key_id != vault.current_key_id)
        .order_by(CaseDataKeyRow.case_id)
        .limit(limit)
        .with_for_update()
    ).all()
    now = datetime.now(UTC)
    for row in rows:
        key = vault.unwrap(WrappedKey(row.key_id, row.wrapped_key), row.case_id)
        wrapped = vault.wrap(key, row.case_id)
        row.key_id, row.wrapped_key, row.updated_at = wrapped.key_id, wrapped.wrapped, now
    session.flush()
    return len(rows)


def seal_legacy_cases(session: Session, after: str | None = None, limit: int = 500) -> tuple[int, str | None]:
    """Seal the personal request fields of cases stored before sealing existed, and hash their phones.

    Scans up to `limit` cases in case-id order from `after`; returns (sealed, where to go on), the
    latter None at the end. Each case row is locked while it is rewritten.
    """
    vault = vault_of(session)
    query = select(CaseRow.case_id).order_by(CaseRow.case_id).limit(limit)
    if after is not None:
        query = query.where(CaseRow.case_id > after)
    case_ids = list(session.scalars(query))
    sealed = 0
    for case_id in case_ids:
        row = session.get(CaseRow, case_id, with_for_update=True, populate_existing=True)
        if row is None or all(is_sealed(row.request.get(n)) for n in REQUEST_FIELDS if n in row.request):
            continue
        request = open_request(session, row)
        contact = request.get("contact")
        row.request = seal_request(session, case_id, request)
        row.contact_phone_hash = vault.phone_hash(contact.get("phone") if isinstance(contact, dict) else None)
        sealed += 1
    session.flush()
    return sealed, (case_ids[-1] if len(case_ids) == limit else None)


def seal_legacy_texts(session: Session, limit: int = 500) -> int:
    """Seal up to `limit` plain note texts and survey comments; returns how many (0: none left).

    Audit events stay as they were: sealing them would change what their hash chain covers.
    """
    done = 0
    notes = select(NoteRow).where(NoteRow.text != "", ~NoteRow.text.startswith(SEALED_PREFIX))
    for note in session.scalars(notes.order_by(NoteRow.case_id, NoteRow.seq).limit(limit)).all():
        note.text = seal_note_text(session, note.case_id, note.seq, note.text)
        done += 1
    surveys = select(SurveyRow).where(SurveyRow.comment != "", ~SurveyRow.comment.startswith(SEALED_PREFIX))
    for survey in session.scalars(surveys.order_by(SurveyRow.case_id, SurveyRow.seq).limit(limit)).all():
        survey.comment = seal_survey_comment(session, survey.case_id, survey.seq, survey.comment)
        done += 1
    session.flush()
    return done
