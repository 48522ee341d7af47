"""People: create, read, deactivate, presence (DESIGN §9). A deactivated person's keys are revoked in
the same transaction, so nothing they held keeps authenticating."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.enums import Actor, CaseStatus
from domain.people import Presence, has_skill
from store.common import utcnow
from store.models import ApiKeyRow, CaseRow, PersonRow


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


@dataclass(frozen=True)
class Pick:
    person_id: str
    open_cases: int  # before this assignment


def least_loaded_agent(session: Session, queue: str, now: datetime, away_after: timedelta) -> Pick | None:
    """Auto-assignment (DESIGN §9): the active agent shown `online` (set online and seen within
    `away_after`, see domain.people.shown_presence) with the skill of `queue` (`*` counts) who holds
    the fewest open cases; ties go to the lowest person id. None when nobody qualifies."""
    candidates = session.scalars(
        select(PersonRow).where(
            PersonRow.active.is_(True),
            PersonRow.role == Actor.AGENT.value,
            PersonRow.presence == Presence.ONLINE.value,
            PersonRow.last_seen_at > now - away_after,
        )
    )
    skilled = [row.person_id for row in candidates if has_skill(skills_of(row), queue)]
    if not skilled:
        return None
    load = dict(open_cases_held(session, skilled))
    return min((Pick(pid, load.get(pid, 0)) for pid in skilled), key=lambda p: (p.open_cases, p.person_id))


def open_cases_held(session: Session, person_ids: Sequence[str]) -> list[tuple[str, int]]:
    """How many open (not closed) cases each of these people holds; people with none are left out."""
    query = (
        select(CaseRow.assigned_to, func.count())
        .where(CaseRow.assigned_to.in_(person_ids), CaseRow.status != CaseStatus.CLOSED.value)
        .group_by(CaseRow.assigned_to)
    )
    return [(str(pid), int(n)) for pid, n in session.execute(query)]


def open_case_ids_held(session: Session, person_id: str) -> list[str]:
    """The open cases assigned to a person (what a hand-back gives back to the queues)."""
    query = (
        select(CaseRow.case_id)
        .where(CaseRow.assigned_to == person_id, CaseRow.status != CaseStatus.CLOSED.value)
        .order_by(CaseRow.case_id)
    )
    return list(session.scalars(query))
