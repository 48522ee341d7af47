"""What a case's workflow writes: its progress (the whole view, per transition) or a delta (what
changed, per wait). One transaction each, idempotent by version, event seq and message key, so a
retried or replayed activity writes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from domain.enums import CaseStatus
from domain.models import CaseDelta, CaseEvent, CaseProgress, CaseView, TimelineEntry
from domain.quality import QualityPolicy
from store import audit, carriers, case_starts, outbox, quality, report_facts
from store.cases import columns_of
from store.common import utcnow
from store.models import CaseRow, OpenCaseLineRow

TRACKING_FIELDS = {"return_tracking_no", "outbound_tracking_no"}
TIMELINE_SIZE = 50  # entries a stored view keeps, as the workflow's own timeline does


def apply_progress(session: Session, progress: CaseProgress) -> None:
    """Write a workflow transition: newer projection wins, events insert once, chain extends.

    Idempotent, so the activity can retry it: an event whose (case_id, seq) is stored is skipped and
    a projection whose version is not above the stored one is ignored. The case row is locked first,
    which serialises concurrent writers of one case (and so their hash chain) on PostgreSQL.
    """
    projection = progress.projection
    view = projection.view
    row = session.get(CaseRow, view.case_id, with_for_update=True)
    if row is None:
        raise LookupError(f"case {view.case_id} is not in the store")
    if row.version == 0:  # the workflow's first write: it runs, its start needs no relay
        case_starts.done(session, view.case_id)
    for event in sorted(progress.events, key=lambda e: e.seq):
        audit.append_event(session, event)
    if projection.version > row.version:
        was_closed, agent_before = row.status == CaseStatus.CLOSED, row.assigned_to
        for key, value in columns_of(view).items():
            setattr(row, key, value)
        row.version = projection.version
        row.priority = projection.priority
        row.assigned_to = projection.assigned_to
        if view.status == CaseStatus.CLOSED:
            _free_lines(session, view.case_id)
        report_facts.follow(session, row, view, was_closed, agent_before)
        carriers.remember_tracking(session, view.case_id, view.model_dump(include=TRACKING_FIELDS))
    session.flush()


@dataclass(frozen=True)
class DeltaApplied:
    """What one delta write changed; a retried or replayed write changes nothing: (False, 0, 0)."""

    view: bool
    events: int
    messages: int


def apply_delta(
    session: Session, delta: CaseDelta, quality_policy: QualityPolicy | None = None
) -> DeltaApplied:
    """Write what changed in a case since its previous write, in the caller's transaction.

    The case row is locked first, which serialises the writers of one case (and so its hash chain).
    New events extend the audit trail once each by (case_id, seq); their timeline entries are added
    to the stored view's timeline (the last TIMELINE_SIZE kept: the timeline is the store's, a delta
    never carries it). The changed view fields are merged into the stored view only when the delta's
    version is above the stored one, or equal to it while bringing new events: a lower version, or an
    equal one with nothing new, was written before. Notifications are queued in the outbox once per
    idempotency key, in the same transaction. A closed case frees its order lines; a closed case
    written open again (an appeal) keeps the line claims as they are, since the API re-claimed them
    before reopening it.
    """
    # The columns a write reads, as a plain row (no ORM object to load and flush): the case row is
    # loaded as an object only for the rarer writes that need one (a close, a reopen, a new assignee).
    stored = session.execute(_FOR_WRITE, {"case_id": delta.case_id}).first()
    if stored is None:
        raise LookupError(f"case {delta.case_id} is not in the store")
    if stored.version == 0:  # the workflow's first write: it runs, its start needs no relay
        case_starts.done(session, delta.case_id)
    appended = audit.append_events(session, sorted(delta.events, key=lambda e: e.seq))
    # A delta of the stored version that still brings new events comes from the execution that went
    # on: an execution that was then lost (its workflow task never completed: the worker died, or a
    # speculative task for an update was dropped) had written that version first, from another path
    # (e.g. it recorded waiting for a refund that the surviving execution got at once). Its view wins.
    newer = delta.version > stored.version or (delta.version == stored.version and bool(appended))
    if newer:
        timeline = [*(stored.view.get("timeline") or []), *map(_timeline_entry, appended)]
        view = CaseView.model_validate({**stored.view, **delta.view, "timeline": timeline[-TIMELINE_SIZE:]})
        values = {**columns_of(view), "version": delta.version}
        if delta.priority is not None:
            values["priority"] = delta.priority
        if "assigned_to" in delta.view:  # the workflow's claim, assignment or release (DESIGN §9)
            values["assigned_to"] = view.assigned_to
        elif delta.assigned_to is not None:
            values["assigned_to"] = delta.assigned_to
        session.execute(_UPDATE_CASE, {**values, "written_case_id": delta.case_id})
        was_closed, agent_before = stored.status == CaseStatus.CLOSED, stored.assigned_to
        closed = view.status == CaseStatus.CLOSED
        if closed or was_closed or values.get("assigned_to", agent_before) != agent_before:
            row = session.get(CaseRow, delta.case_id, populate_existing=True)
            assert row is not None  # locked above
            if closed:
                _free_lines(session, delta.case_id)
                quality.select_for_review(session, row, view.appealed, quality_policy or QualityPolicy())
            report_facts.follow(session, row, view, was_closed, agent_before)
        carriers.remember_tracking(session, delta.case_id, delta.view)
    messages = outbox.add_messages(session, delta.notifications, utcnow())
    session.flush()
    return DeltaApplied(newer, len(appended), messages)


_FOR_WRITE = (
    select(CaseRow.version, CaseRow.status, CaseRow.assigned_to, CaseRow.view)
    .where(CaseRow.case_id == bindparam("case_id"))
    .with_for_update()
)
# The SET clause is the parameters given (the view's columns, the version, and priority or assignee
# when the write changes them); a Core UPDATE on the table, without the ORM's unit of work.
_CASES = cast(Table, CaseRow.__table__)
_UPDATE_CASE = update(_CASES).where(_CASES.c.case_id == bindparam("written_case_id"))


def _timeline_entry(event: CaseEvent) -> dict[str, Any]:
    entry = TimelineEntry(
        at=event.at, step=event.step, kind=event.kind, actor=event.actor, summary=event.summary
    )
    return entry.model_dump(mode="json")


def _free_lines(session: Session, case_id: str) -> None:
    """A closed case's order lines are free for a new case."""
    session.execute(delete(OpenCaseLineRow).where(OpenCaseLineRow.case_id == case_id))
