"""Case starts still to be made: written with the case, deleted by the workflow's first store write.

The API starts a new case's workflow right after the transaction that stores the case and this row
commits, and answers without waiting for Temporal. A row outlives its grace only when that start did
not happen (the API process died after its commit, or Temporal was down): a worker's start relay
(workers/start_relay.py) then claims it under a lease and starts the workflow. Starting twice is
harmless: the start attaches to a running workflow and never starts a closed case again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from domain.models import CaseInput, CaseRequest
from store import personal
from store.models import CaseRow, CaseStartRow

MAX_ERROR = 500  # characters of a start error kept in last_error


@dataclass(frozen=True)
class ClaimedStart:
    """A claimed start with the whole workflow input (the request opened from the case row)."""

    case_id: str
    input: CaseInput
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class PendingStarts:
    count: int
    oldest_created_at: datetime | None


def add(
    session: Session, inp: CaseInput, now: datetime, grace: timedelta, fields: dict[str, Any] | None = None
) -> None:
    """Note that `inp`'s workflow is to be started; a relay starts it if it is still here after `grace`.
    `fields`: `start_fields(inp)` when the caller made them already (outside its transaction)."""
    session.add(
        CaseStartRow(
            case_id=inp.case_id,
            start=fields if fields is not None else start_fields(inp),
            attempts=0,
            next_attempt_at=now + grace,
            created_at=now,
        )
    )


def start_fields(inp: CaseInput) -> dict[str, Any]:
    """The input without its request: the case row keeps the request, sealed."""
    return inp.model_dump(mode="json", exclude={"request"})


def pending(session: Session, case_id: str) -> CaseInput | None:
    """The input of the case's start if it may not have happened yet, else None."""
    found = session.get(CaseStartRow, case_id)
    return None if found is None else _input_of(session, found)


def is_pending(session: Session, case_id: str) -> bool:
    return session.get(CaseStartRow, case_id) is not None


def done(session: Session, case_id: str) -> None:
    """The workflow runs (its first store write, or a start that Temporal accepted)."""
    session.execute(_DONE, {"case_id": case_id})


# Run by every case's first store write: built once, so it keeps its cache key between calls.
_DONE = delete(CaseStartRow).where(CaseStartRow.case_id == bindparam("case_id"))


def any_due(session: Session, now: datetime) -> bool:
    """A read: an idle relay never takes a write lock."""
    return (
        session.scalar(select(CaseStartRow.case_id).where(CaseStartRow.next_attempt_at <= now).limit(1))
        is not None
    )


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[ClaimedStart]:
    """Lease up to `limit` due starts, oldest first; rows another relay is claiming are skipped."""
    rows = session.scalars(
        select(CaseStartRow)
        .where(CaseStartRow.next_attempt_at <= now)
        .order_by(CaseStartRow.next_attempt_at, CaseStartRow.case_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.next_attempt_at = now + lease
    session.flush()
    return [ClaimedStart(row.case_id, _input_of(session, row), row.attempts, row.created_at) for row in rows]


def failed(session: Session, case_id: str, error: str, retry_at: datetime) -> None:
    row = session.get(CaseStartRow, case_id)
    if row is None:  # the workflow wrote meanwhile: it runs
        return
    row.attempts += 1
    row.last_error = error[:MAX_ERROR]
    row.next_attempt_at = retry_at


def pending_summary(session: Session) -> PendingStarts:
    count, oldest = session.execute(select(func.count(), func.min(CaseStartRow.created_at))).one()
    return PendingStarts(int(count), oldest)


def _input_of(session: Session, row: CaseStartRow) -> CaseInput:
    case = session.get(CaseRow, row.case_id)
    if case is None:  # the foreign key deletes the start with its case
        raise LookupError(f"case {row.case_id} is not in the store")
    request = CaseRequest.model_validate(personal.open_request(session, case))
    return CaseInput.model_validate({**row.start, "request": request})
