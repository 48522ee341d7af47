"""Policies per platform, merchant and category (DESIGN §13): versions (admin) and the policy in
force, published with where each value came from."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Admin
from api.deps import Context
from api.problems import Problem
from domain.models import Identifier, OrderDatetime
from domain.policy_docs import PolicyDocument, PolicyVersion
from services import policies as policy_service
from store import policies

router = APIRouter(prefix="/v1", tags=["policies"])
audit_log = logging.getLogger("audit.policies")
MerchantQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
PathId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
CategoryQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class NewPolicyVersion(PolicyDocument):
    """A new version of one level: platform (no merchant_id), merchant, or merchant+category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merchant_id: Identifier | None = None
    category: Identifier | None = None
    effective_from: OrderDatetime


class PolicyHistory(BaseModel):
    level: str
    merchant_id: str | None
    category: str | None
    versions: list[PolicyVersion] = Field(description="newest first; past versions never change")


@router.post("/admin/policies", response_model=PolicyVersion, status_code=201)
async def create_policy_version(ctx: Context, who: Admin, body: NewPolicyVersion) -> PolicyVersion:
    """Create the next version of a level's document, in force from `effective_from`. Refused with 422
    naming the field when it cannot work: a negative or zero limit, a breach action the step cannot
    take, overlapping approval tiers, thresholds in mixed currencies. Cases already open keep theirs."""
    document = PolicyDocument.model_validate(
        body.model_dump(exclude={"merchant_id", "category", "effective_from"})
    )

    def store() -> PolicyVersion:
        with ctx.sessions.begin() as session:
            return policy_service.create_version(
                session, body.merchant_id, body.category, body.effective_from, document, who.actor
            )

    try:
        version = await run_in_threadpool(store)
    except policy_service.PolicyRefused as err:
        field = str(err).split(":", 1)[0]
        raise Problem(
            422,
            str(err),
            type_="/problems/validation",
            errors=[{"field": field, "message": str(err), "type": "value_error"}],
        ) from err
    audit_log.info("policy %s created by %s, effective %s", version.source, who.actor, version.effective_from)
    return version


@router.get("/admin/policies", response_model=PolicyHistory)
async def policy_history(
    ctx: Context, who: Admin, merchant_id: MerchantQuery = None, category: CategoryQuery = None
) -> PolicyHistory:
    """Every version of one level (no merchant: the platform's), newest first."""
    if category is not None and merchant_id is None:
        raise Problem(422, "category: a category policy belongs to a merchant (give merchant_id)")
    return await _history(ctx, merchant_id, category)


async def _history(ctx: Context, merchant_id: str | None, category: str | None) -> PolicyHistory:
    def read() -> list[PolicyVersion]:
        with ctx.reads() as session:
            return policies.history(session, merchant_id, category)

    level = policies.level_of(merchant_id, category)
    versions = await run_in_threadpool(read)
    return PolicyHistory(level=level, merchant_id=merchant_id, category=category, versions=versions)


@router.get("/admin/policies/platform", response_model=PolicyHistory)
async def platform_policy_history(ctx: Context, who: Admin) -> PolicyHistory:
    """Every version of the platform's policy, newest first."""
    return await _history(ctx, None, None)


@router.get("/admin/policies/merchants/{merchant_id}", response_model=PolicyHistory)
async def merchant_policy_history(ctx: Context, who: Admin, merchant_id: PathId) -> PolicyHistory:
    """Every version of a merchant's policy, newest first."""
    return await _history(ctx, merchant_id, None)


@router.get("/admin/policies/merchants/{merchant_id}/categories/{category}", response_model=PolicyHistory)
async def category_policy_history(
    ctx: Context, who: Admin, merchant_id: PathId, category: PathId
) -> PolicyHistory:
    """Every version of a merchant's policy for one category, newest first."""
    return await _history(ctx, merchant_id, category)
