"""What a case's workflow writes: its progress (the whole view, per transition) or a delta (what
changed, per wait). One transaction each, idempotent by version, event seq and message key, so a
retried or replayed activity writes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
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
    row = session.get(CaseRow, delta.case_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise LookupError(f"case {delta.case_id} is not in the store")
    if row.version == 0:  # the workflow's first write: it runs, its start needs no relay
        case_starts.done(session, delta.case_id)
    appended = audit.append_events(session, sorted(delta.events, key=lambda e: e.seq))
    # A delta of the stored version that still brings new events comes from the execution that went
    # on: an execution that was then lost (its workflow task never completed: the worker died, or a
    # speculative task for an update was dropped) had written that version first, from another path
    # (e.g. it recorded waiting for a refund that the surviving execution got at once). Its view wins.
    newer = delta.version > row.version or (delta.version == row.version and bool(appended))
    if newer:
        timeline = [*(row.view.get("timeline") or []), *map(_timeline_entry, appended)]
        view = CaseView.model_validate({**row.view, **delta.view, "timeline": timeline[-TIMELINE_SIZE:]})
        was_closed, agent_before = row.status == CaseStatus.CLOSED, row.assigned_to
        for key, value in columns_of(view).items():
            setattr(row, key, value)
        row.version = delta.version
        if delta.priority is not None:
            row.priority = delta.priority
        if "assigned_to" in delta.view:  # the workflow's claim, assignment or release (DESIGN §9)
            row.assigned_to = view.assigned_to
        elif delta.assigned_to is not None:
            row.assigned_to = delta.assigned_to
        if view.status == CaseStatus.CLOSED:
            _free_lines(session, delta.case_id)
            quality.select_for_review(session, row, view.appealed, quality_policy or QualityPolicy())
        report_facts.follow(session, row, view, was_closed, agent_before)
        carriers.remember_tracking(session, delta.case_id, delta.view)
    messages = outbox.add_messages(session, delta.notifications, utcnow())
    session.flush()
    return DeltaApplied(newer, len(appended), messages)


def _timeline_entry(event: CaseEvent) -> dict[str, Any]:
    entry = TimelineEntry(
        at=event.at, step=event.step, kind=event.kind, actor=event.actor, summary=event.summary
    )
    return entry.model_dump(mode="json")


def _free_lines(session: Session, case_id: str) -> None:
    """A closed case's order lines are free for a new case."""
    session.execute(delete(OpenCaseLineRow).where(OpenCaseLineRow.case_id == case_id))
