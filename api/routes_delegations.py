"""Approval delegations (DESIGN §13): a supervisor or manager who is away names a colleague who
approves for them from one day to another (their own, or set by an admin)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Admin, Identity, Reader
from api.deps import Context
from api.problems import Problem
from domain.people import PERSON_ID
from domain.tiers import APPROVERS
from store import delegations, people
from store.models import DelegationRow

router = APIRouter(prefix="/v1", tags=["delegations"])
audit_log = logging.getLogger("audit.delegations")
PersonIdField = Field(pattern=PERSON_ID.pattern, examples=["P-ana"])


class DelegationDates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delegate_id: str = PersonIdField
    starts_on: date
    ends_on: date = Field(description="inclusive")

    @model_validator(mode="after")
    def _ordered(self) -> DelegationDates:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on: must not be before starts_on")
        if (self.ends_on - self.starts_on).days > 366:
            raise ValueError("ends_on: a delegation lasts at most a year")
        return self


class NewDelegation(DelegationDates):
    delegator_id: str = PersonIdField


class DelegationView(BaseModel):
    id: int
    delegator_id: str
    delegator_role: str
    delegate_id: str
    starts_on: date
    ends_on: date
    created_at: datetime
    created_by: str


class DelegationList(BaseModel):
    items: list[DelegationView]


def _view(row: DelegationRow) -> DelegationView:
    return DelegationView.model_validate(row, from_attributes=True)


async def _delegate(ctx: Context, who: Identity, delegator_id: str, dates: DelegationDates) -> DelegationView:
    if dates.delegate_id == delegator_id:
        raise Problem(422, "delegate_id: one cannot delegate to oneself")

    def store() -> DelegationView:
        with ctx.sessions.begin() as session:
            delegator = people.get_person(session, delegator_id)
            if delegator is None or not delegator.active:
                raise Problem(404, f"no active person {delegator_id}")
            if delegator.role not in APPROVERS:
                raise Problem(422, f"delegator_id: a {delegator.role} approves nothing to delegate")
            delegate = people.get_person(session, dates.delegate_id)
            if delegate is None or not delegate.active:
                raise Problem(422, f"delegate_id: no active person {dates.delegate_id}")
            row = delegations.add_delegation(
                session,
                delegator_id,
                delegator.role,
                dates.delegate_id,
                dates.starts_on,
                dates.ends_on,
                who.actor,
            )
            return _view(row)

    view = await run_in_threadpool(store)
    audit_log.info(
        "approvals of %s delegated to %s from %s to %s by %s",
        view.delegator_id,
        view.delegate_id,
        view.starts_on,
        view.ends_on,
        who.actor,
    )
    return view


async def _list(ctx: Context, person_id: str) -> DelegationList:
    def read() -> DelegationList:
        with ctx.reads() as session:
            return DelegationList(items=[_view(r) for r in delegations.delegations_of(session, person_id)])

    return await run_in_threadpool(read)


@router.post("/me/delegations", response_model=DelegationView, status_code=201)
async def delegate_mine(ctx: Context, who: Reader, body: DelegationDates) -> DelegationView:
    """Away from `starts_on` to `ends_on`: `delegate_id` approves for me meanwhile (my key must be a
    supervisor's or a manager's person key)."""
    if who.person_id is None:
        raise Problem(409, "this key belongs to no person")
    return await _delegate(ctx, who, who.person_id, body)


@router.get("/me/delegations", response_model=DelegationList)
async def my_delegations(ctx: Context, who: Reader) -> DelegationList:
    """The delegations I gave or hold, newest first."""
    if who.person_id is None:
        raise Problem(409, "this key belongs to no person")
    return await _list(ctx, who.person_id)


@router.post("/admin/delegations", response_model=DelegationView, status_code=201)
async def delegate_for(ctx: Context, who: Admin, body: NewDelegation) -> DelegationView:
    """Record an away approver's delegation for them."""
    return await _delegate(ctx, who, body.delegator_id, body)


@router.get("/admin/delegations", response_model=DelegationList)
async def delegations_of(
    ctx: Context, who: Admin, person_id: Annotated[str, Query(pattern=PERSON_ID.pattern)]
) -> DelegationList:
    """The delegations a person gave or holds, newest first."""
    return await _list(ctx, person_id)
