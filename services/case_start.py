"""Starting a case's workflow: what the API does right after it stores a case, what a worker's start
relay does for a start the API could not make, and what an action on a case not yet started does first.

Starting again is always safe: a running workflow is attached to (`USE_EXISTING`), and a case whose
workflow has ended is never started again (`REJECT_DUPLICATE`: a second run would work the case twice).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.models import CaseInput
from domain.names import WORKFLOW_TYPE, workflow_id_for
from workflows import search_attributes as sa


async def start_case_workflow(
    client: Client, task_queue: str, inp: CaseInput, rpc_timeout: timedelta
) -> bool:
    """Start the case's workflow, or attach to it when it runs; False when it ran and ended already.
    Raises RPCError when Temporal cannot be reached."""
    order = inp.request.order
    try:
        # By name: the API needs the workflow's contract (domain.names), not its code.
        await client.start_workflow(
            WORKFLOW_TYPE,
            inp,
            id=workflow_id_for(inp.case_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.ISSUE_TYPE, str(inp.request.issue_type)),
                    SearchAttributePair(sa.MERCHANT_ID, order.merchant_id),
                    SearchAttributePair(sa.ORDER_ID, order.order_id),
                    SearchAttributePair(sa.PRIORITY, inp.priority or inp.request.priority),
                    SearchAttributePair(sa.CASE_STATUS, "pending"),
                    SearchAttributePair(sa.CASE_STEP, "submitted"),
                    SearchAttributePair(sa.SLA_BREACHED, False),
                ]
            ),
            static_summary=(
                f"Case {inp.case_id} · {inp.request.issue_type} ({inp.request.reason}) · "
                f"order {order.order_id} · merchant {order.merchant_id}"
            ),
            static_details=(
                f"**Case** {inp.case_id}\n\n**Issue** {inp.request.issue_type} — {inp.request.reason}\n\n"
                f"**Order** {order.order_id}, lines {', '.join(inp.request.line_ids)}\n\n"
                f"**Merchant** {order.merchant_id}\n\n**Channel** {inp.request.channel}\n\n"
                f"**Queue** {inp.queue or '-'}\n\n**Priority** {inp.priority or inp.request.priority}"
                f"{f' ({inp.priority_reason})' if inp.priority_reason else ''}\n\n"
                f"**Policy** {inp.policy.name} v{inp.policy.version}"
            ),
            rpc_timeout=rpc_timeout,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
