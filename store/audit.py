"""The audit trail: append-only events per case, each carrying the hash of the previous one.

The chain hashes what is stored (personal fields sealed), so `verify_chain` needs no keys. Events of
the kinds the store reads (approvals, surveys, notes, breaches, evidence) also get rows of their
own, derived through the typed payload models of `domain.audit`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from domain.audit import (
    ApprovalPayload,
    BreachPayload,
    CallbackPayload,
    ClosedPayload,
    EventKind,
    EvidencePayload,
    NotePayload,
    Payload,
    RefundedPayload,
    StepPayload,
    SurveyPayload,
    parse_payload,
)
from domain.enums import STATUS_OF_STEP, Step
from domain.models import CaseEvent
from store import feed, personal
from store.common import canonical, utcnow
from store.models import (
    ApprovalRow,
    CallbackRow,
    CaseRow,
    EventRow,
    EvidenceRow,
    NoteRow,
    SlaBreachRow,
    SurveyRow,
)
from store.vault import is_sealed

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # prev_hash of a case's first event


def _event_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(content)).encode()).hexdigest()


def _event_content(
    case_id: str, seq: int, at: datetime, kind: str, step: str, actor: str, summary: str, payload: Any
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "kind": kind,
        "step": step,
        "actor": actor,
        "summary": summary,
        "payload": payload,
    }


def append_event(session: Session, event: CaseEvent) -> bool:
    """Extend the case's chain with the event; False when its (case_id, seq) is stored already."""
    return bool(append_events(session, [event]))


def append_events(session: Session, events: Sequence[CaseEvent]) -> list[CaseEvent]:
    """Extend one case's chain with events (ascending seq); the ones stored already are skipped.

    Usually one query: the chain's head (its last stored event). When the head is below the first
    new seq, nothing of the batch is stored and the head's hash is the one the chain goes on from.
    Else (a retried or overlapping write) one query for what is stored and one for the hash before
    the first new event. One INSERT for the whole batch either way: a store write brings several
    events at once. Events that would not extend the chain in one run (one stored between two new
    ones) are appended one by one, each reading its own predecessor. Callers serialise the writers
    of a case (apply_delta locks the case row), which keeps the chain linear.
    """
    if not events:
        return []
    case_id = events[0].case_id
    if all(e.case_id == case_id for e in events):
        head = session.execute(_CHAIN_HEAD, {"case_id": case_id}).first()
        if head is None or head.seq < events[0].seq:
            return _extend(session, events, head.hash if head is not None else GENESIS)
    found = session.execute(_STORED_SEQS, {"case_id": case_id, "seqs": [e.seq for e in events]})
    stored = {seq: (kind, step) for seq, kind, step in found}
    _warn_if_diverged(events, stored)
    new = [e for e in events if e.seq not in stored]
    if not new:
        return []
    if any(e.case_id != case_id for e in new) or (stored and max(stored) > new[0].seq):
        return [e for e in new if _append_one(session, e, _last_hash_before(session, e.case_id, e.seq))]
    return _extend(session, new, _last_hash_before(session, case_id, new[0].seq))


def _warn_if_diverged(events: Sequence[CaseEvent], stored: dict[int, tuple[str, str]]) -> None:
    """A retried write brings the events stored already, as they are. Other events under stored
    seqs were written by an execution that was then lost (its workflow task never completed): the
    store keeps the first ones (the chain is append-only), so say which, for whoever reads the trail."""
    case_id = events[0].case_id
    differ = [
        e.seq
        for e in events
        if e.case_id == case_id and e.seq in stored and stored[e.seq] != (e.kind, str(e.step))
    ]
    if differ:
        log.warning(
            "case %s: events %s differ from the ones stored under those seqs (written by an execution "
            "that was then lost); the stored ones are kept",
            case_id,
            differ,
        )


def _extend(session: Session, new: Sequence[CaseEvent], prev_hash: str) -> list[CaseEvent]:
    """Chain `new` (one case's, ascending, none stored) after `prev_hash`, in one INSERT."""
    rows = []
    for event in new:
        prev_hash, row = _chained(session, event, prev_hash)
        rows.append(row)
    _insert_rows(session, rows)
    return list(new)


def _last_hash_before(session: Session, case_id: str, seq: int) -> str:
    prev = session.scalar(_HASH_BEFORE, {"case_id": case_id, "seq": seq})
    return prev or GENESIS


# The queries of every store write, built once: a statement object keeps its cache key between calls.
_STORED_SEQS = select(EventRow.seq, EventRow.kind, EventRow.step).where(
    EventRow.case_id == bindparam("case_id"), EventRow.seq.in_(bindparam("seqs", expanding=True))
)
_CHAIN_HEAD = (
    select(EventRow.seq, EventRow.hash)
    .where(EventRow.case_id == bindparam("case_id"))
    .order_by(EventRow.seq.desc())
    .limit(1)
)
_HASH_BEFORE = (
    select(EventRow.hash)
    .where(EventRow.case_id == bindparam("case_id"), EventRow.seq < bindparam("seq"))
    .order_by(EventRow.seq.desc())
    .limit(1)
)


def _append_one(session: Session, event: CaseEvent, prev_hash: str) -> bool:
    _insert_rows(session, [_chained(session, event, prev_hash)[1]])
    return True


def _chained(session: Session, event: CaseEvent, prev_hash: str) -> tuple[str, dict[str, Any]]:
    """The event's own hash and its row's values after `prev_hash`; its derived records are added."""
    payload = json.loads(canonical(event.payload))
    # The chain hashes what is stored (personal fields sealed), so it verifies without keys.
    stored = personal.seal_event_payload(session, event.case_id, event.seq, event.kind, payload)
    content = _event_content(
        event.case_id, event.seq, event.at, event.kind, str(event.step), event.actor, event.summary, stored
    )
    digest = _event_hash(prev_hash, content)
    row = {
        "case_id": event.case_id,
        "seq": event.seq,
        "at": event.at,
        "kind": event.kind,
        "step": str(event.step),
        "actor": event.actor,
        "summary": event.summary,
        "payload": stored,
        "prev_hash": prev_hash,
        "hash": digest,
        "recorded_at": utcnow(),
    }
    _derive_records(session, event, payload)
    return digest, row


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """One INSERT for the events' rows (an executemany), not one ORM insert per row: the rows are
    never read back in the writing session. `txid` is the writing transaction's (store.feed)."""
    session.execute(_event_insert(session.get_bind().dialect.name), rows)


@functools.cache
def _event_insert(dialect: str) -> Any:
    # On the table, not the mapped class: a Core INSERT, without the ORM's bulk-insert machinery.
    return insert(cast(Table, EventRow.__table__)).values(txid=feed.txid_of_dialect(dialect))


def typed_payload(kind: str, payload: dict[str, Any]) -> Payload | None:
    """An event's payload as its kind's model (domain.audit); None when it does not fit the model.

    Sealed values (personal data at rest) are left out: a reader that needs them opens the payload
    first (`event_payload`). Readers skip a payload that does not fit (malformed, or older than its
    model), as they skipped missing fields before the vocabulary was typed.
    """
    readable = {key: value for key, value in payload.items() if not is_sealed(value)}
    try:
        return parse_payload(kind, readable)
    except ValidationError:
        return None


def _derive_records(session: Session, event: CaseEvent, payload: dict[str, Any]) -> None:
    """Approvals, surveys, notes, breaches and evidence get their own rows, written with their event.

    `payload` is the plain one; the customer's words (note text, survey comment) are stored sealed.
    """
    typed = typed_payload(event.kind, payload)
    if typed is None:
        log.warning(
            "event %s/%s (%s) does not fit its payload model: no record derived",
            event.case_id,
            event.seq,
            event.kind,
        )
        return
    key = {"case_id": event.case_id, "seq": event.seq, "at": event.at}
    if isinstance(typed, ApprovalPayload):
        session.add(ApprovalRow(**key, decision=typed.decision, actor=event.actor, comment=typed.comment))
    elif isinstance(typed, SurveyPayload):
        comment = personal.seal_survey_comment(session, event.case_id, event.seq, typed.comment)
        session.add(SurveyRow(**key, csat=typed.csat, nps=typed.nps, comment=comment))
    elif isinstance(typed, NotePayload):
        text = personal.seal_note_text(session, event.case_id, event.seq, typed.text)
        session.add(NoteRow(**key, actor=event.actor, visibility=typed.visibility, text=text))
    elif isinstance(typed, BreachPayload):
        session.add(
            SlaBreachRow(
                **key,
                step=typed.clock or str(event.step),  # a step, or "platform"
                step_limit=typed.step_limit,
                action=typed.action,
                due_at=typed.due_at,
            )
        )
    elif isinstance(typed, CallbackPayload):
        case = session.get(CaseRow, event.case_id)
        assignee = case.assigned_to if case is not None else None
        session.add(
            CallbackRow(
                case_id=event.case_id,
                seq=event.seq,
                attempt=1,
                due_at=typed.callback_at,
                assignee=assignee,
                status="pending",
            )
        )
    elif isinstance(typed, EvidencePayload):
        for url in typed.evidence:
            session.add(
                EvidenceRow(case_id=event.case_id, source=event.kind, kind="reference", url=url, at=event.at)
            )


@dataclass(frozen=True)
class RebuiltProjection:
    step: str
    status: str
    close_reason: str | None
    refunded: Decimal
    sla_breached: bool


def rebuild_projection(session: Session, case_id: str) -> RebuiltProjection:
    """The case's state derived from its audit trail alone — for repair after a store restore, and
    to check that the projection and the events agree."""
    step, close_reason, refunded, breached = Step.SUBMITTED, None, Decimal(0), False
    for event in list_events(session, case_id):
        typed = typed_payload(event.kind, event.payload or {})
        if isinstance(typed, StepPayload):
            step = typed.to
            if step != Step.CLOSED:
                close_reason = None
        elif isinstance(typed, ClosedPayload):
            close_reason = str(typed.reason)
        elif isinstance(typed, RefundedPayload):
            refunded += typed.amount
        elif event.kind == EventKind.SLA_BREACHED:
            breached = True
    return RebuiltProjection(
        step=str(step),
        status=str(STATUS_OF_STEP[step]),
        close_reason=close_reason,
        refunded=refunded,
        sla_breached=breached,
    )


def list_events(session: Session, case_id: str) -> list[EventRow]:
    """The audit trail as stored (personal fields sealed); `event_payload` opens a row's payload."""
    return list(session.scalars(select(EventRow).where(EventRow.case_id == case_id).order_by(EventRow.seq)))


def event_payload(session: Session, row: EventRow) -> dict[str, Any]:
    """An audit event's payload with its personal fields opened."""
    return personal.open_event_payload(session, row)


def note_text(session: Session, row: NoteRow) -> str:
    return personal.open_note_text(session, row)


def survey_comment(session: Session, row: SurveyRow) -> str:
    return personal.open_survey_comment(session, row)


@dataclass(frozen=True)
class ChainProblem:
    case_id: str
    seq: int
    problem: str


def verify_chain(session: Session, case_id: str | None = None) -> list[ChainProblem]:
    """Recompute every hash; a changed, removed or reordered row shows up as a problem."""
    query = select(EventRow).order_by(EventRow.case_id, EventRow.seq)
    if case_id is not None:
        query = query.where(EventRow.case_id == case_id)
    problems: list[ChainProblem] = []
    previous: dict[str, str] = {}
    for row in session.scalars(query):
        expected_prev = previous.get(row.case_id, GENESIS)
        content = _event_content(
            row.case_id, row.seq, row.at, row.kind, row.step, row.actor, row.summary, row.payload
        )
        if row.prev_hash != expected_prev:
            problems.append(ChainProblem(row.case_id, row.seq, "previous hash does not match the chain"))
        if _event_hash(row.prev_hash, content) != row.hash:
            problems.append(ChainProblem(row.case_id, row.seq, "row content does not match its hash"))
        previous[row.case_id] = row.hash
    return problems
