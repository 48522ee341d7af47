"""Who works a case (DESIGN §9): what the API checks and fills in before a claim, an assignment or
a release goes to the case workflow, which decides against the case's current assignee.

The caller's identity is the API's to say, never the body's: a claim is for the caller's own person,
a release says who releases and whether as a supervisor. An assignee must be an active person whose
role works cases, with the skill of the case's queue; else 422 and nothing is sent.
"""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.auth import Identity
from api.deps import AppContext
from api.problems import Problem
from domain.enums import Action, Actor
from domain.models import Assign, Claim, Contract
from domain.people import has_skill
from store import people
from store.models import CaseRow

ASSIGNMENT_ACTIONS = frozenset({Action.CLAIM, Action.ASSIGN, Action.RELEASE})
ASSIGNABLE_ROLES = frozenset({Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE})


async def assignment_body(
    ctx: AppContext, who: Identity, action: Action, payload: Contract, case: CaseRow
) -> dict[str, Any]:
    if action == Action.ASSIGN:
        assert isinstance(payload, Assign)
        await _check_assignee(ctx, payload.person_id, _queue_of(case))
        return {"person_id": payload.person_id}
    if who.person_id is None:
        raise Problem(
            409,
            f"this API key belongs to no person: {action} with a person's key",
            type_="/problems/no-person",
        )
    if action == Action.CLAIM:
        assert isinstance(payload, Claim)
        if payload.person_id not in (None, who.person_id):
            raise Problem(
                422, "a claim is for yourself; a supervisor assigns others", type_="/problems/validation"
            )
        await _check_assignee(ctx, who.person_id, _queue_of(case))
        return {"person_id": who.person_id}
    return {"person_id": who.person_id, "as_supervisor": who.role == Actor.SUPERVISOR}


def _queue_of(case: CaseRow) -> str | None:
    return case.queue


async def _check_assignee(ctx: AppContext, person_id: str, queue: str | None) -> None:
    def read() -> str | None:
        with ctx.reads() as session:
            row = people.get_person(session, person_id)
            if row is None or not row.active:
                return f"no active person {person_id}"
            if Actor(row.role) not in ASSIGNABLE_ROLES:
                return f"{person_id} is {row.role}: only agents, supervisors and the dispute team work cases"
            if queue is not None and not has_skill(people.skills_of(row), queue):
                return f"{person_id} does not have the skill of queue {queue}"
            return None

    problem = await run_in_threadpool(read)
    if problem is not None:
        raise Problem(422, problem, type_="/problems/unassignable", person_id=person_id)
