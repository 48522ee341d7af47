"""Callback tasks (seed 003 四; DESIGN §9): the next-working-day call to the customer after a case is
resolved, a task for the agent who held the case, due at the start of the next service-desk day.

`GET /v1/me/callbacks` lists mine, `GET /v1/callbacks` everyone's (supervisors, ops), and
`POST /v1/cases/{id}/callback` records the outcome once: `solved`, `not_solved` (the case goes back
to the agent's proposal for a second remedy, 002 一(四)) or `unreachable` (called again the next
desk day, at most AFTERSALES_CALLBACK_MAX_ATTEMPTS times). A callback done after its day is recorded
late; one never done is shown `overdue` past its day (a missing callback; the scorecard counts both).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Identity, require
from api.deps import Context
from api.problems import Problem
from api.routes_cases import CaseId, _owned
from domain.enums import Action, Actor
from domain.models import ActionEnvelope
from services.desk_days import next_desk_day
from store import callbacks
from store.models import CallbackRow

router = APIRouter(prefix="/v1", tags=["callbacks"])
Worker = Annotated[Identity, Depends(require(frozenset({Actor.AGENT, Actor.SUPERVISOR})))]
Overseer = Annotated[Identity, Depends(require(frozenset({Actor.SUPERVISOR, Actor.OPS, Actor.SYSTEM})))]


class Callback(BaseModel):
    case_id: str
    attempt: int = Field(description="1, then 2… after the customer was unreachable")
    due_at: datetime
    assignee: str | None
    status: str
    outcome: str | None = None
    note: str | None = None
    done_by: str | None = None
    done_at: datetime | None = None
    late: bool | None = None
    overdue: bool = Field(default=False, description="still pending after its day: a missing callback")
    next_attempt_due_at: datetime | None = Field(
        default=None, description="unreachable: when the next attempt is due (none after the last allowed)"
    )
    second_remedy: str | None = Field(
        default=None,
        description="not_solved: `started` (the case is back at the agent's proposal) or why it was not",
    )


class CallbackList(BaseModel):
    items: list[Callback]


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["solved", "not_solved", "unreachable"]
    note: str = Field(default="", max_length=2000)


def callback_of(row: CallbackRow, now: datetime | None = None) -> Callback:
    return Callback(
        case_id=row.case_id,
        attempt=row.attempt,
        due_at=row.due_at,
        assignee=row.assignee,
        status=row.status,
        outcome=row.outcome,
        note=row.note,
        done_by=row.done_by,
        done_at=row.done_at,
        late=row.late,
        overdue=callbacks.is_overdue(row, now or datetime.now(UTC)),
    )


@router.get("/me/callbacks", response_model=CallbackList)
async def my_callbacks(ctx: Context, who: Worker) -> CallbackList:
    """My pending callbacks, by due time (a key of no person: 409)."""
    if who.person_id is None:
        raise Problem(
            409, "this API key belongs to no person: callbacks are a person's", type_="/problems/no-person"
        )
    person = who.person_id

    def read() -> list[CallbackRow]:
        with ctx.reads() as session:
            return callbacks.pending_for(session, person)

    return CallbackList(items=[callback_of(r) for r in await run_in_threadpool(read)])


@router.get("/callbacks", response_model=CallbackList)
async def all_callbacks(
    ctx: Context,
    who: Overseer,
    assignee: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = None,
) -> CallbackList:
    """Pending callbacks by due time, everyone's or one person's (at most 200: the oldest first)."""

    def read() -> list[CallbackRow]:
        with ctx.reads() as session:
            return callbacks.pending_for(session, assignee)

    return CallbackList(items=[callback_of(r) for r in await run_in_threadpool(read)])


@router.post("/cases/{case_id}/callback", response_model=Callback)
async def record_callback(ctx: Context, who: Worker, case_id: CaseId, body: Outcome) -> Callback:
    """The outcome of the case's pending callback, once (409 when it has none). An agent records
    their own; a supervisor anyone's."""
    await _owned(ctx, who, case_id)
    now = datetime.now(UTC)

    def write() -> Callback | str:
        with ctx.sessions.begin() as session:
            pending = callbacks.pending_of_case(session, case_id)
            if pending is None:
                return f"case {case_id} has no pending callback"
            if who.role == Actor.AGENT and pending.assignee not in (None, who.person_id):
                return f"the callback of case {case_id} is {pending.assignee}'s"
            done = callbacks.complete(session, case_id, body.outcome, body.note, who.actor, now)
            if done is None:
                return f"case {case_id} has no pending callback"
            shown = callback_of(done, now)
            if body.outcome == "unreachable":  # called again the next desk day, at most N times
                again = callbacks.call_again(
                    session, done, next_desk_day(session, now), ctx.settings.callback_max_attempts
                )
                shown = shown.model_copy(update={"next_attempt_due_at": again.due_at if again else None})
            return shown

    done = await run_in_threadpool(write)
    if isinstance(done, str):
        raise Problem(409, done, type_="/problems/callback")
    if body.outcome == "not_solved":  # 002 一(四): the agent proposes again, under the usual approvals
        envelope = ActionEnvelope(
            action=Action.SECOND_REMEDY,
            payload={"reason": body.note or "callback: the problem is not solved"},
            actor=who.actor,
            request_id=f"callback-{case_id}-{done.attempt}-{done.due_at.isoformat()}",
        )
        try:
            await ctx.gateway.act(case_id, Action.SECOND_REMEDY, envelope, envelope.request_id)
            done = done.model_copy(update={"second_remedy": "started"})
        except Problem as problem:
            done = done.model_copy(update={"second_remedy": f"not started: {problem.detail}"})
    return done
