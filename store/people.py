"""People: create, read, deactivate, presence (DESIGN §9). A deactivated person's keys are revoked in
the same transaction, so nothing they held keeps authenticating."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.people import Presence
from store.common import utcnow
from store.models import ApiKeyRow, PersonRow


class PersonExists(Exception):
    def __init__(self, person_id: str) -> None:
        super().__init__(f"person {person_id} already exists")
        self.person_id = person_id


def new_person_id() -> str:
    return "P-" + secrets.token_hex(4)


def create_person(
    session: Session,
    display_name: str,
    role: str,
    skills: Sequence[str] = (),
    person_id: str | None = None,
    created_by: str = "",
) -> PersonRow:
    person_id = person_id or new_person_id()
    if session.get(PersonRow, person_id) is not None:
        raise PersonExists(person_id)
    row = PersonRow(
        person_id=person_id,
        display_name=display_name,
        role=role,
        skills=" ".join(sorted(set(skills))),
        presence=Presence.OFFLINE.value,
        active=True,
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def get_person(session: Session, person_id: str) -> PersonRow | None:
    return session.get(PersonRow, person_id)


def list_people(
    session: Session, role: str | None = None, active: bool | None = None, limit: int = 500
) -> list[PersonRow]:
    query = select(PersonRow).order_by(PersonRow.person_id).limit(limit)
    if role is not None:
        query = query.where(PersonRow.role == role)
    if active is not None:
        query = query.where(PersonRow.active.is_(active))
    return list(session.scalars(query))


def skills_of(row: PersonRow) -> list[str]:
    return row.skills.split()


def deactivate_person(session: Session, person_id: str) -> tuple[PersonRow, int] | None:
    """Deactivate (kept for the record) and revoke the person's keys; None when unknown. Returns
    the row and how many keys were revoked; deactivating twice changes nothing."""
    row = session.get(PersonRow, person_id, with_for_update=True)
    if row is None:
        return None
    now = utcnow()
    result = session.execute(
        update(ApiKeyRow)
        .where(ApiKeyRow.person_id == person_id, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revoked = result.rowcount  # type: ignore[attr-defined]
    if row.active:
        row.active, row.deactivated_at = False, now
        row.presence, row.presence_changed_at = Presence.OFFLINE.value, now
    return row, int(revoked or 0)


def set_presence(session: Session, person_id: str, presence: Presence) -> PersonRow | None:
    """Set what the person says; None when unknown or inactive."""
    row = session.get(PersonRow, person_id)
    if row is None or not row.active:
        return None
    now = utcnow()
    if row.presence != presence.value:
        row.presence, row.presence_changed_at = presence.value, now
    row.last_seen_at = now
    return row


def mark_seen(session: Session, person_id: str, at: datetime) -> None:
    """The person made a request at `at` (never moves the mark back)."""
    session.execute(
        update(PersonRow)
        .where(PersonRow.person_id == person_id)
        .where((PersonRow.last_seen_at.is_(None)) | (PersonRow.last_seen_at < at))
        .values(last_seen_at=at)
    )
