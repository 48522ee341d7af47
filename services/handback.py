"""Starting a person's hand-back workflow (DESIGN §9): what the API (presence `offline`, deactivation)
and the CLI (`aftersales people deactivate`) both do."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from domain.names import HANDBACK_WORKFLOW_TYPE, handback_workflow_id
from domain.people import HandbackInput


async def start_handback(client: Client, task_queue: str, inp: HandbackInput, rpc_timeout: timedelta) -> None:
    """Start the person's hand-back; one already waiting is replaced (its grace starts anew).
    Raises RPCError when Temporal cannot be reached."""
    await client.start_workflow(
        HANDBACK_WORKFLOW_TYPE,
        inp,
        id=handback_workflow_id(inp.person_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        static_summary=f"hand back {inp.person_id}'s open cases ({inp.why})",
        rpc_timeout=rpc_timeout,
    )
