"""Callback tasks come from the case's callback_scheduled event, for whoever holds the case, and are
done once with an outcome; late when done after the local day they were due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from domain.enums import Step
from store import callbacks, cases, progress
from tests.store import factories as f
from tests.store.helpers import create

DUE = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, the next desk day


def scheduled(db: sessionmaker[Session], assignee: str | None) -> str:
    cid, _ = create(db, f.case_request())
    with db.begin() as session:
        row = cases.get_case(session, cid)
        assert row is not None
        row.assigned_to = assignee
    event = f.event(
        cid, 1, "callback_scheduled", step=Step.FOLLOW_UP, payload={"callback_at": DUE.isoformat()}
    )
    with db.begin() as session:
        progress.apply_delta(session, f.delta(cid, 1, [event], view=f.step_fields(Step.FOLLOW_UP, at=f.NOW)))
    return cid


def test_the_callback_is_the_assignees_task_due_at_the_next_desk_day(db: sessionmaker[Session]) -> None:
    cid = scheduled(db, "P-cb-ana")
    with db() as session:
        mine = [r for r in callbacks.pending_for(session, "P-cb-ana") if r.case_id == cid]
    assert len(mine) == 1 and mine[0].due_at == DUE and mine[0].status == "pending"


def test_a_callback_done_that_day_is_on_time_the_day_after_is_late_and_it_is_done_once(
    db: sessionmaker[Session],
) -> None:
    on_time, late = scheduled(db, "P-cb-bo"), scheduled(db, "P-cb-bo")
    with db.begin() as session:
        done = callbacks.complete(session, on_time, "solved", "", "agent:P-cb-bo", DUE + timedelta(hours=13))
        assert done is not None and done.late is False  # 22:00 the same day in Shanghai
        done = callbacks.complete(
            session, late, "unreachable", "no answer", "agent:P-cb-bo", DUE + timedelta(hours=16)
        )
        assert done is not None and done.late is True  # 01:00 the next day
    with db.begin() as session:
        assert callbacks.complete(session, on_time, "solved", "", "agent:P-cb-bo", DUE) is None
