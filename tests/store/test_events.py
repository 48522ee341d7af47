"""The audit trail: a hash chain per case that any later change to a stored row breaks."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.models import CaseView
from store import audit, cases, progress
from tests.store import factories as f
from tests.store.helpers import create


def with_events(db: sessionmaker[Session], n: int) -> str:
    cid, _ = create(db, f.case_request())
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        view = CaseView.model_validate(row.view)
    events = [
        f.event(cid, 1, "created", step=Step.SUBMITTED, payload={"channel": "app", "lines": ["L1"]}),
        f.event(cid, 2, "step", step=Step.PRELIMINARY_REVIEW, payload={"to": "merchant_verification"}),
        f.event(cid, 3, "note", payload={"text": "客户来电", "visibility": "internal", "n": 3.5}),
    ][:n]
    events += [f.event(cid, seq) for seq in range(4, n + 1)]
    with db.begin() as session:
        progress.apply_progress(session, f.progress(f.moved(view, Step.MERCHANT_VERIFICATION), 1, events))
    return cid


def test_events_are_chained_in_seq_order(db: sessionmaker[Session]) -> None:
    cid = with_events(db, 5)
    with db() as session:
        events = audit.list_events(session, cid)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    first = events[0]
    content = {
        "case_id": cid,
        "seq": 1,
        "at": first.at.isoformat(),
        "kind": "created",
        "step": "submitted",
        "actor": "system",
        "summary": "created #1",
        "payload": {"channel": "app", "lines": ["L1"]},
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.hash == hashlib.sha256((audit.GENESIS + canonical).encode()).hexdigest()
    assert first.at == f.NOW + timedelta(minutes=1) and first.recorded_at.tzinfo is not None


def test_events_written_in_several_transitions_extend_one_chain(db: sessionmaker[Session]) -> None:
    cid = with_events(db, 2)
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        view = CaseView.model_validate(row.view)
    with db.begin() as session:
        later = f.progress(f.moved(view, Step.LIABILITY_AND_PROPOSAL), 2, [f.event(cid, 3), f.event(cid, 4)])
        progress.apply_progress(session, later)
    with db() as session:
        events = audit.list_events(session, cid)
        assert events[2].prev_hash == events[1].hash
        assert audit.verify_chain(session, cid) == []


def test_the_chain_verifies_and_a_tampered_row_is_detected(db: sessionmaker[Session]) -> None:
    cid = with_events(db, 4)
    untouched = with_events(db, 2)
    with db() as session:
        assert audit.verify_chain(session, cid) == []
    with db.begin() as session:
        session.execute(
            text("UPDATE case_events SET summary = :s WHERE case_id = :c AND seq = 2"),
            {"s": "refund approved by supervisor", "c": cid},
        )
    with db() as session:
        problems = audit.verify_chain(session, cid)
        assert {(p.case_id, p.seq) for p in problems} == {(cid, 2)}
        everywhere = {(p.case_id, p.seq) for p in audit.verify_chain(session)}
        assert (cid, 2) in everywhere
        assert not any(case_id == untouched for case_id, _ in everywhere)


def test_a_tampered_payload_and_a_removed_row_are_detected(db: sessionmaker[Session]) -> None:
    cid = with_events(db, 5)
    with db.begin() as session:
        row = audit.list_events(session, cid)[2]
        row.payload = {**row.payload, "text": "nothing happened"}  # an ORM edit, not only raw SQL
        session.execute(text("DELETE FROM case_events WHERE case_id = :c AND seq = 4"), {"c": cid})
    with db() as session:
        assert {(p.case_id, p.seq) for p in audit.verify_chain(session, cid)} == {(cid, 3), (cid, 5)}


def test_a_batch_of_events_chains_exactly_as_one_by_one(db: sessionmaker[Session]) -> None:
    """A store write appends its events in one batch; the chain is the one single appends make."""
    one, _ = create(db, f.case_request())
    batch, _ = create(db, f.case_request())
    events = {cid: [f.event(cid, seq) for seq in range(1, 5)] for cid in (one, batch)}
    with db.begin() as session:
        assert all(audit.append_event(session, e) for e in events[one])
        assert audit.append_events(session, events[batch]) == events[batch]
        assert audit.append_events(session, events[batch]) == []  # a retried write adds nothing
    with db() as session:
        chains = {cid: audit.list_events(session, cid) for cid in (one, batch)}
        assert audit.verify_chain(session, one) == audit.verify_chain(session, batch) == []
    for chain in chains.values():
        assert [e.seq for e in chain] == [1, 2, 3, 4] and chain[0].prev_hash == audit.GENESIS
        assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(chain))


def test_a_batch_around_a_stored_event_still_chains_each_to_its_predecessor(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    events = [f.event(cid, seq) for seq in range(1, 5)]
    with db.begin() as session:
        audit.append_events(session, events[:1] + events[2:3])  # 1 and 3 stored, 2 missing
        assert [e.seq for e in audit.append_events(session, events)] == [2, 4]
    with db() as session:
        stored = audit.list_events(session, cid)
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(stored[:2]))
    assert stored[3].prev_hash == stored[2].hash
