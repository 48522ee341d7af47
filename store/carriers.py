"""Carrier tracking (DESIGN §13): which case a tracking number belongs to, and every carrier event
received, once per (carrier, event id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.carriers import TrackingEvent
from store.common import insert_or_reread, utcnow
from store.models import CarrierEventRow, CaseRow, CaseTrackingRow


def remember_tracking(session: Session, case_id: str, view: dict[str, Any]) -> None:
    """Keep the case's tracking numbers that a store write carries (never forgotten: a scan of an
    earlier number still finds the case)."""
    for field, direction in (("return_tracking_no", "return"), ("outbound_tracking_no", "outbound")):
        number = view.get(field)
        if not number or session.get(CaseTrackingRow, (number, case_id)) is not None:
            continue
        session.add(
            CaseTrackingRow(tracking_no=number, case_id=case_id, direction=direction, created_at=utcnow())
        )
        session.flush()


def case_of(session: Session, tracking_no: str) -> CaseRow | None:
    """The newest case with this tracking number, or None."""
    return session.scalars(
        select(CaseRow)
        .join(CaseTrackingRow, CaseTrackingRow.case_id == CaseRow.case_id)
        .where(CaseTrackingRow.tracking_no == tracking_no)
        .order_by(CaseRow.created_at.desc())
        .limit(1)
    ).first()


def record_event(
    session: Session, carrier: str, event: TrackingEvent, case_id: str | None, outcome: str
) -> tuple[CarrierEventRow, bool]:
    """Store the event once; (row, True) the first time, (the stored row, False) for a duplicate."""

    def find() -> CarrierEventRow | None:
        return session.get(CarrierEventRow, (carrier, event.event_id), populate_existing=True)

    stored = find()
    if stored is not None:
        return stored, False
    row = CarrierEventRow(
        carrier=carrier,
        event_id=event.event_id,
        tracking_no=event.tracking_no,
        kind=event.kind,
        at=event.at,
        body=event.model_dump(mode="json"),
        received_at=utcnow(),
        case_id=case_id,
        outcome=outcome,
    )
    return insert_or_reread(session, row, find)


def settle_event(session: Session, carrier: str, event_id: str, outcome: str) -> None:
    row = session.get(CarrierEventRow, (carrier, event_id))
    if row is not None:
        row.outcome = outcome
