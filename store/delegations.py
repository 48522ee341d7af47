"""Approval delegations (DESIGN §13): an approver away for a date range names a colleague."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.common import utcnow
from store.models import DelegationRow


def add_delegation(
    session: Session,
    delegator_id: str,
    delegator_role: str,
    delegate_id: str,
    starts_on: date,
    ends_on: date,
    created_by: str,
) -> DelegationRow:
    row = DelegationRow(
        delegator_id=delegator_id,
        delegator_role=delegator_role,
        delegate_id=delegate_id,
        starts_on=starts_on,
        ends_on=ends_on,
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def delegations_of(session: Session, person_id: str) -> list[DelegationRow]:
    """Delegations the person gave or holds, newest first."""
    rows = session.scalars(
        select(DelegationRow)
        .where((DelegationRow.delegator_id == person_id) | (DelegationRow.delegate_id == person_id))
        .order_by(DelegationRow.starts_on.desc(), DelegationRow.id.desc())
    )
    return list(rows)


def held_on(session: Session, delegate_id: str, day: date) -> list[DelegationRow]:
    """The delegations `delegate_id` holds on `day`, managers' first."""
    rows = session.scalars(
        select(DelegationRow).where(
            DelegationRow.delegate_id == delegate_id,
            DelegationRow.starts_on <= day,
            DelegationRow.ends_on >= day,
        )
    )
    return sorted(rows, key=lambda r: (r.delegator_role != "manager", r.id))
