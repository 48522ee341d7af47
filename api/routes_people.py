"""People (DESIGN §9): who works cases, the queues they may work, and their presence.

Admins (system, supervisor) create people, give them keys and deactivate them; ops may read the list.
Everyone with a person's key may read and set their own presence.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio.service import RPCError

from api.auth import ADMIN_ROLES, Admin, Identity, QueueReader, Reader, require
from api.deps import Context
from api.problems import Problem
from domain.enums import Actor
from domain.models import CaseView
from domain.people import PERSON_ID, HandbackInput, Presence, shown_presence, skill_problem
from store import keys, people, queues
from store.models import PersonRow

router = APIRouter(prefix="/v1", tags=["people"])
log = logging.getLogger(__name__)
PersonId = Annotated[str, Path(pattern=PERSON_ID.pattern, examples=["P-ana"])]
PeopleReader = Annotated[Identity, Depends(require(ADMIN_ROLES | {Actor.OPS}))]
RoleName = Literal["agent", "supervisor", "manager", "dispute", "ops"]


class NewPerson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str | None = Field(
        default=None, pattern=PERSON_ID.pattern, description="your own id for the person; made up if absent"
    )
    display_name: str = Field(min_length=1, max_length=200)
    role: RoleName
    skills: list[str] = Field(
        default_factory=list, max_length=100, description="queues the person may work; `*` for every queue"
    )

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str]) -> list[str]:
        for skill in value:
            problem = skill_problem(skill)
            if problem:
                raise ValueError(problem)
        return value


class PersonView(BaseModel):
    person_id: str
    display_name: str
    role: str
    skills: list[str]
    presence: Presence = Field(description="as others see it: `online` turns `away` after inactivity")
    presence_set: Presence = Field(description="as the person last set it")
    last_seen_at: datetime | None
    active: bool
    created_at: datetime
    deactivated_at: datetime | None


class PersonList(BaseModel):
    items: list[PersonView]


class PersonKey(BaseModel):
    key_id: str
    person_id: str
    role: str
    api_key: str = Field(description="shown once: only its hash is kept")


class Deactivated(BaseModel):
    person: PersonView
    keys_revoked: int


class PresenceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: Presence


class MyCases(BaseModel):
    person_id: str
    items: list[CaseView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class Me(BaseModel):
    role: str
    merchant_id: str | None
    key_id: str
    person: PersonView | None


def view_of(row: PersonRow, ctx: Context, now: datetime | None = None) -> PersonView:
    away_after = timedelta(seconds=ctx.settings.presence_away_after_seconds)
    now = now or datetime.now(UTC)
    return PersonView(
        person_id=row.person_id,
        display_name=row.display_name,
        role=row.role,
        skills=people.skills_of(row),
        presence=shown_presence(Presence(row.presence), row.last_seen_at, now, away_after),
        presence_set=Presence(row.presence),
        last_seen_at=row.last_seen_at,
        active=row.active,
        created_at=row.created_at,
        deactivated_at=row.deactivated_at,
    )


def _unknown(person_id: str) -> Problem:
    return Problem(404, f"no person {person_id}", type_="/problems/unknown-person")


@router.post("/admin/people", response_model=PersonView, status_code=201)
async def create_person(ctx: Context, who: Admin, body: NewPerson) -> PersonView:
    """Create a person; give them a key with `POST /v1/admin/people/{id}/keys`."""
    if who.role == Actor.SUPERVISOR and body.role not in (Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE):
        raise Problem(403, "a supervisor may create agents, supervisors and dispute-team members")

    def create() -> PersonView:
        with ctx.sessions.begin() as session:
            row = people.create_person(
                session, body.display_name, body.role, body.skills, body.person_id, created_by=who.actor
            )
            return view_of(row, ctx)

    try:
        return await run_in_threadpool(create)
    except people.PersonExists as err:
        raise Problem(409, str(err), type_="/problems/person-exists") from err


@router.get("/admin/people", response_model=PersonList)
async def list_people(
    ctx: Context,
    who: PeopleReader,
    role: Annotated[RoleName | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
) -> PersonList:
    def read() -> PersonList:
        with ctx.reads() as session:
            now = datetime.now(UTC)
            return PersonList(items=[view_of(r, ctx, now) for r in people.list_people(session, role, active)])

    return await run_in_threadpool(read)


@router.get("/admin/people/{person_id}", response_model=PersonView)
async def get_person(ctx: Context, who: PeopleReader, person_id: PersonId) -> PersonView:
    def read() -> PersonView | None:
        with ctx.reads() as session:
            row = people.get_person(session, person_id)
            return view_of(row, ctx) if row is not None else None

    found = await run_in_threadpool(read)
    if found is None:
        raise _unknown(person_id)
    return found


@router.post("/admin/people/{person_id}/keys", response_model=PersonKey, status_code=201)
async def create_person_key(ctx: Context, who: Admin, person_id: PersonId) -> PersonKey:
    """A new API key that acts as the person, with their role (shown once)."""

    def create() -> PersonKey | None:
        with ctx.sessions.begin() as session:
            row = people.get_person(session, person_id)
            if row is None or not row.active:
                return None
            if who.role == Actor.SUPERVISOR and row.role == Actor.MANAGER:
                # A manager approves above a supervisor's tier: a supervisor may not act as one.
                raise Problem(403, "a supervisor may not create a manager's key")
            key_id, plaintext = keys.create_api_key(
                session, row.role, label=f"{row.display_name} ({person_id})", person_id=person_id
            )
            return PersonKey(key_id=key_id, person_id=person_id, role=row.role, api_key=plaintext)

    made = await run_in_threadpool(create)
    if made is None:
        raise Problem(422, f"no active person {person_id}", type_="/problems/unknown-person")
    return made


@router.post("/admin/people/{person_id}/deactivate", response_model=Deactivated)
async def deactivate_person(ctx: Context, who: Admin, person_id: PersonId) -> Deactivated:
    """Deactivate a person (kept for the record) and revoke their keys; idempotent."""

    def deactivate() -> Deactivated | None:
        with ctx.sessions.begin() as session:
            done = people.deactivate_person(session, person_id)
            if done is None:
                return None
            return Deactivated(person=view_of(done[0], ctx), keys_revoked=done[1])

    was_active = await run_in_threadpool(_is_active, ctx, person_id)
    done = await run_in_threadpool(deactivate)
    if done is None:
        raise _unknown(person_id)
    ctx.known_keys.clear()  # revoked keys stop working in this process at once
    if was_active:  # whoever leaves gives their open cases back to the queues at once
        await _hand_back(ctx, HandbackInput(person_id=person_id, grace_seconds=0, why="deactivated"))
    return done


@router.get("/me", response_model=Me)
async def me(ctx: Context, who: Reader) -> Me:
    """Who the calling key is: its role, and the person it belongs to (if any)."""

    def read() -> PersonView | None:
        if who.person_id is None:
            return None
        with ctx.reads() as session:
            row = people.get_person(session, who.person_id)
            return view_of(row, ctx) if row is not None else None

    person = await run_in_threadpool(read)
    return Me(role=who.role, merchant_id=who.merchant_id, key_id=who.key_id, person=person)


@router.put("/me/presence", response_model=PersonView)
async def set_presence(ctx: Context, who: Reader, body: PresenceChange) -> PersonView:
    """Set my presence: `online`, `away` or `offline`."""
    if who.person_id is None:
        raise Problem(
            409, "this API key belongs to no person: presence is a person's", type_="/problems/no-person"
        )
    person_id = who.person_id

    def write() -> tuple[PersonView, bool] | None:
        with ctx.sessions.begin() as session:
            before = people.get_person(session, person_id)
            was_offline = before is not None and before.presence == Presence.OFFLINE.value
            row = people.set_presence(session, person_id, body.presence)
            return (view_of(row, ctx), body.presence == Presence.OFFLINE and not was_offline) if row else None

    done = await run_in_threadpool(write)
    if done is None:
        raise _unknown(person_id)
    view, went_offline = done
    if went_offline:  # after the grace period, unless back by then, their open cases go back
        grace = ctx.settings.offline_handback_seconds
        await _hand_back(ctx, HandbackInput(person_id=person_id, grace_seconds=grace, why="offline"))
    return view


def _is_active(ctx: Context, person_id: str) -> bool:
    with ctx.reads() as session:
        row = people.get_person(session, person_id)
        return row is not None and row.active


async def _hand_back(ctx: Context, inp: HandbackInput) -> None:
    """Start the person's hand-back workflow. The presence change is stored either way: when Temporal
    cannot be reached it is logged, and their cases stay with them (a supervisor can release them)."""
    try:
        await ctx.gateway.start_handback(inp)
    except RPCError as err:
        log.error("hand-back of %s (%s) not started: %s", inp.person_id, inp.why, err.message)


@router.get("/me/cases", response_model=MyCases)
async def my_cases(
    ctx: Context,
    who: QueueReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=300, pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> MyCases:
    """My inbox: the open cases assigned to me, breached first, then by due time (the earliest of the
    case's deadlines; cases with none last), then case id; cursor-paginated like a queue's cases."""
    if who.person_id is None:
        raise Problem(
            409, "this API key belongs to no person: an inbox is a person's", type_="/problems/no-person"
        )
    person_id = who.person_id

    def read() -> tuple[list[dict[str, Any]], str | None]:
        with ctx.reads() as session:
            rows, next_cursor = queues.assigned_cases(session, person_id, limit=limit, cursor=cursor)
            return [dict(row.view) for row in rows], next_cursor

    try:
        views, next_cursor = await run_in_threadpool(read)
    except ValueError as err:
        raise Problem(422, str(err), type_="/problems/validation") from err
    items = [CaseView.model_validate(v) for v in views]
    return MyCases(person_id=person_id, items=items, next_cursor=next_cursor)
