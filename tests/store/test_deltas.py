"""Store writes of a lean case: one delta per wait carries the changed view fields, the new audit
events and the notifications for the outbox, in one transaction, idempotent by version and seq."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from domain.models import CaseDelta, CaseView
from store import audit, cases, listing, outbox, progress
from store.models import EventRow, NoteRow, OpenCaseLineRow, OutboxRow, SurveyRow
from tests.store import factories as f
from tests.store.helpers import count, create

LATER = f.NOW + timedelta(hours=1)


def stored(db: sessionmaker[Session], cid: str) -> tuple[CaseView, int]:
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        return CaseView.model_validate(row.view), row.version


def write(db: sessionmaker[Session], *deltas: CaseDelta) -> list[progress.DeltaApplied]:
    """Each delta in its own transaction, as the record_case_delta activity writes it."""
    results = []
    for delta in deltas:
        with db.begin() as session:
            results.append(progress.apply_delta(session, delta))
    return results


def test_a_delta_merges_the_changed_fields_and_recomputes_the_filter_columns(
    db: sessionmaker[Session],
) -> None:
    merchant = f.unique("M")
    cid, _ = create(db, f.case_request(merchant_id=merchant))
    due = LATER + timedelta(hours=24)
    changed = f.step_fields(
        Step.MERCHANT_VERIFICATION,
        at=LATER,
        deadlines={"merchant_verification": due},
        liability="merchant",
        sla_breached=True,
        refunded={"amount": "59.00", "currency": "CNY"},
    )
    write(db, f.delta(cid, 1, view=changed))
    view, version = stored(db, cid)
    assert version == 1 and view.step == Step.MERCHANT_VERIFICATION and view.updated_at == LATER
    assert view.order_id and view.paid.amount == Decimal("129.00")  # fields the delta left alone
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        assert (row.status, row.step, row.liability, row.sla_breached) == (
            "processing",
            "merchant_verification",
            "merchant",
            True,
        )
        assert row.refunded_amount == Decimal("59.00") and row.updated_at == LATER
        assert row.deadlines == {"merchant_verification": due.isoformat()}
        found, _ = listing.list_cases(
            session, merchant_id=merchant, step="merchant_verification", breached=True
        )
        assert [case.case_id for case in found] == [cid]


def test_a_retried_delta_writes_nothing_twice(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    delta = f.delta(
        cid,
        1,
        [f.event(cid, 1, "intake", step=Step.SUBMITTED, payload={}), f.event(cid, 2)],
        view=f.step_fields(Step.PRELIMINARY_REVIEW, at=LATER),
        notifications=[f.message(cid, 1)],
    )
    first, *retries = write(db, delta, delta, delta)
    assert first == progress.DeltaApplied(view=True, events=2, messages=1)
    assert retries == [progress.DeltaApplied(view=False, events=0, messages=0)] * 2
    view, version = stored(db, cid)
    assert version == 1 and [entry.kind for entry in view.timeline] == ["intake", "step"]
    assert count(db, EventRow, case_id=cid) == 2 and count(db, OutboxRow, case_id=cid) == 1


def test_an_older_delta_never_overwrites_a_newer_view_but_its_events_still_insert_once(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    newer = f.delta(cid, 3, [f.event(cid, 1)], view=f.step_fields(Step.FOLLOW_UP, at=LATER))
    older = f.delta(cid, 2, [f.event(cid, 1), f.event(cid, 2)], view=f.step_fields(Step.REFUNDING, at=f.NOW))
    write(db, newer, older)
    view, version = stored(db, cid)
    assert (view.step, version) == (Step.FOLLOW_UP, 3)
    with db() as session:
        assert [e.seq for e in audit.list_events(session, cid)] == [1, 2]
        assert audit.verify_chain(session, cid) == []


def test_new_events_extend_one_chain_and_the_stored_timeline_keeps_the_last_fifty(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    first = [f.event(cid, seq) for seq in range(1, 31)]
    second = [f.event(cid, seq) for seq in range(31, 61)]
    write(db, f.delta(cid, 1, first), f.delta(cid, 2, second))
    view, _ = stored(db, cid)
    assert [entry.summary for entry in view.timeline] == [f"step #{seq}" for seq in range(11, 61)]
    entry = view.timeline[-1]
    assert (entry.at, entry.step, entry.kind, entry.actor) == (
        second[-1].at,
        second[-1].step,
        "step",
        "system",
    )
    with db() as session:
        assert audit.verify_chain(session, cid) == []


def test_a_delta_overlapping_what_is_stored_adds_only_its_new_events_after_the_chain_head(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    write(db, f.delta(cid, 1, [f.event(cid, 1), f.event(cid, 2)]))
    overlapping = f.delta(cid, 2, [f.event(cid, seq) for seq in (2, 3, 4)])
    assert write(db, overlapping) == [progress.DeltaApplied(view=True, events=2, messages=0)]
    with db() as session:
        assert [e.seq for e in audit.list_events(session, cid)] == [1, 2, 3, 4]
        assert audit.verify_chain(session, cid) == []


def test_a_message_key_queued_by_another_write_first_is_not_queued_again(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    with db.begin() as session:  # e.g. an alert, written outside the case's store writes
        assert outbox.add_messages(session, [f.message(cid, 1)], f.NOW) == 1
    again = [f.message(cid, 1), f.message(cid, 2), f.message(cid, 2)]
    assert write(db, f.delta(cid, 1, notifications=again))[0].messages == 1
    with db() as session:
        assert [m.idempotency_key for m in outbox.messages_of(session, cid)] == [
            f"{cid}-notify-1",
            f"{cid}-notify-2",
        ]


def test_the_timeline_is_the_stores_whatever_a_delta_says(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    write(db, f.delta(cid, 1, [f.event(cid, 1)], view={"timeline": []}))
    view, _ = stored(db, cid)
    assert [entry.summary for entry in view.timeline] == ["step #1"]


def test_events_of_a_delta_are_sealed_and_derive_their_records(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    events = [
        f.event(cid, 1, "note", payload={"visibility": "merchant", "private": {"text": "客户来电"}}),
        f.event(cid, 2, "survey_answered", payload={"csat": 4, "nps": 10, "private": {"comment": "很好"}}),
    ]
    write(db, f.delta(cid, 1, events))
    with db() as session:
        raw = session.scalars(select(EventRow.payload).where(EventRow.case_id == cid)).all()
        assert "客户来电" not in str(raw) and "很好" not in str(raw)
        note = session.get(NoteRow, (cid, 1))
        survey = session.get(SurveyRow, (cid, 2))
        assert note is not None and survey is not None
        assert (note.visibility, audit.note_text(session, note)) == ("merchant", "客户来电")
        assert (survey.csat, survey.nps, audit.survey_comment(session, survey)) == (4, 10, "很好")


def test_a_closed_case_frees_its_lines_and_a_reopened_one_keeps_the_claims_the_api_took_back(
    db: sessionmaker[Session],
) -> None:
    req = f.case_request()
    cid, _ = create(db, req)
    write(db, f.delta(cid, 1, view=f.step_fields(Step.CLOSED, at=LATER)))
    assert count(db, OpenCaseLineRow, case_id=cid) == 0
    with db.begin() as session:
        assert cases.reclaim_case_lines(session, cid).held_by is None  # the API, on an appeal
    write(db, f.delta(cid, 2, view=f.step_fields(Step.LIABILITY_AND_PROPOSAL, at=LATER, appealed=True)))
    assert count(db, OpenCaseLineRow, case_id=cid) == 1
    view, _ = stored(db, cid)
    assert view.status == "processing" and view.appealed


def test_notifications_are_queued_pending_and_due_with_the_write_and_roll_back_with_it(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    delta = f.delta(
        cid, 1, [f.event(cid, 1)], notifications=[f.message(cid, 1), f.message(cid, 2, "merchant")]
    )
    with pytest.raises(RuntimeError), db.begin() as session:
        progress.apply_delta(session, delta)
        raise RuntimeError("the transaction fails after the write")
    assert count(db, OutboxRow, case_id=cid) == 0 and count(db, EventRow, case_id=cid) == 0
    write(db, delta)
    with db() as session:
        queued = outbox.messages_of(session, cid)
    assert [(m.idempotency_key, m.recipient_role, m.status, m.attempts) for m in queued] == [
        (f"{cid}-notify-1", "customer", "pending", 0),
        (f"{cid}-notify-2", "merchant", "pending", 0),
    ]
    assert all(m.next_attempt_at == m.created_at and m.claimed_until is None for m in queued)


def test_priority_and_assignee_change_only_when_a_delta_gives_them(db: sessionmaker[Session]) -> None:
    cid, _ = create(db, f.case_request())
    write(db, f.delta(cid, 1, priority="urgent", assigned_to="agent:A-7"), f.delta(cid, 2))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None and (row.priority, row.assigned_to, row.version) == ("urgent", "agent:A-7", 2)


def test_a_delta_for_a_case_the_store_does_not_know_is_refused(db: sessionmaker[Session]) -> None:
    with pytest.raises(LookupError), db.begin() as session:
        progress.apply_delta(session, f.delta("AS20261005NOSUCHCASE", 1))


def test_the_assignee_follows_the_view_the_workflow_writes_including_a_release(
    db: sessionmaker[Session],
) -> None:
    cid, _ = create(db, f.case_request())
    write(db, f.delta(cid, 1, view={"assigned_to": "P-ana"}), f.delta(cid, 2))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None and (row.assigned_to, row.view["assigned_to"]) == ("P-ana", "P-ana")
    write(db, f.delta(cid, 3, view={"assigned_to": None}))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None and row.assigned_to is None and row.view["assigned_to"] is None


def test_a_lost_executions_write_gives_way_to_the_surviving_executions_write_of_the_same_version(
    db: sessionmaker[Session],
) -> None:
    """A worker ran an inspection, failed its quick refund try and wrote "refunding" (version 3),
    then died before its workflow task completed. The execution that went on got the refund at once
    and wrote version 3 too: inspected, refunded, follow-up. The store follows the one that went on."""
    cid, _ = create(db, f.case_request())
    write(db, f.delta(cid, 1, [f.event(cid, 1)], view=f.step_fields(Step.MERCHANT_VERIFICATION, at=f.NOW)))
    write(db, f.delta(cid, 2, [f.event(cid, 2)], view=f.step_fields(Step.AWAITING_INSPECTION, at=f.NOW)))
    inspected = [f.event(cid, 3, "inspected"), f.event(cid, 4, step=Step.REFUNDING)]
    lost = f.delta(cid, 3, inspected, view=f.step_fields(Step.REFUNDING, at=LATER))
    refunded: dict[str, object] = {"amount": "129.00", "currency": "CNY"}
    went_on = f.delta(
        cid,
        3,
        [*inspected, f.event(cid, 5, "refunded", payload=refunded), f.event(cid, 6, step=Step.FOLLOW_UP)],
        view=f.step_fields(Step.FOLLOW_UP, at=LATER, refunded=refunded),
    )
    assert [r.view for r in write(db, lost, went_on)] == [True, True]
    view, version = stored(db, cid)
    assert (version, view.step, view.refunded.amount) == (3, Step.FOLLOW_UP, Decimal("129.00"))
    with db() as session:
        row = cases.get_case(session, cid)
        assert row is not None and (row.step, row.refunded_amount) == ("follow_up", Decimal("129.00"))
    # The lost execution's write, retried or late, changes nothing any more: it brings nothing new.
    assert write(db, lost) == [progress.DeltaApplied(False, 0, 0)]
    assert stored(db, cid)[0].step == Step.FOLLOW_UP
    with db() as session:
        assert audit.verify_chain(session, cid) == []


def test_events_of_a_lost_execution_under_seqs_the_surviving_one_uses_are_kept_and_named_in_a_warning(
    db: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    cid, _ = create(db, f.case_request())
    write(db, f.delta(cid, 1, [f.event(cid, 1)]))
    lost = f.delta(cid, 2, [f.event(cid, 2, "refund_failed", step=Step.REFUNDING)])
    went_on = f.delta(cid, 2, [f.event(cid, 2, "refunded", step=Step.REFUNDING), f.event(cid, 3)])
    with caplog.at_level(logging.WARNING, logger="store.audit"):
        write(db, lost, lost)  # a retry brings the same events: nothing to say
        assert not caplog.records
        write(db, went_on)
    assert [r.getMessage() for r in caplog.records] == [
        f"case {cid}: events [2] differ from the ones stored under those seqs (written by an execution "
        "that was then lost); the stored ones are kept"
    ]
    with db() as session:
        assert [(e.seq, e.kind) for e in audit.list_events(session, cid)] == [
            (1, "step"),
            (2, "refund_failed"),
            (3, "step"),
        ]
        assert audit.verify_chain(session, cid) == []
