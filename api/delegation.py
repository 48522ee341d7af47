"""Who approves a case's decision (DESIGN §13): the tier's role, or a colleague holding an away
approver's delegation, who then approves for them (audited: the actor names both)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.auth import Identity
from api.deps import Context
from api.problems import Problem
from domain.tiers import APPROVERS, TierRole
from store import delegations
from store.models import CaseRow


async def approval_body(
    ctx: Context, who: Identity, body: dict[str, Any], case: CaseRow
) -> tuple[dict[str, Any], str]:
    """The approval's body and actor: the caller's own when their role approves the case's tier,
    else for the approver whose delegation they hold today; 403 otherwise. `on_behalf_of` is the
    API's to set, never the caller's."""
    body = {**body, "on_behalf_of": None}
    tier: TierRole = (case.view or {}).get("approval_tier") or "supervisor"
    if who.role.value in APPROVERS[tier]:
        return body, who.actor
    if who.person_id is not None:
        person_id = who.person_id
        today = datetime.now(UTC).date()

        def held() -> list[tuple[str, str]]:
            with ctx.reads() as session:
                return [
                    (d.delegator_id, d.delegator_role) for d in delegations.held_on(session, person_id, today)
                ]

        for delegator_id, role in await run_in_threadpool(held):
            if role in APPROVERS[tier]:
                return {**body, "on_behalf_of": delegator_id}, f"{role}:{delegator_id}:delegate:{person_id}"
    raise Problem(
        403,
        f"this decision is in the {tier} tier: a {tier} approves it, or a colleague holding their delegation",
        type_="/problems/NotApprover",
    )
