"""How the API talks to case workflows: start idempotently, act through Updates, map failures to HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import ReplyClockInput
from api.problems import Problem
from domain.enums import Action
from domain.models import ActionEnvelope, CaseInput, CaseView
from domain.names import (
    HTTP_STATUS_OF_REFUSAL,
    QUERY_CASE,
    REPLY_CLOCK_TYPE,
    SIGNAL_REPLIED,
    WORKFLOW_TYPE,
    workflow_id_for,
)
from domain.people import HandbackInput
from services.handback import start_handback
from workflows import search_attributes as sa


class TemporalGateway:
    def __init__(self, client: Client, task_queue: str, rpc_timeout: float) -> None:
        self.client = client
        self.task_queue = task_queue
        self.rpc_timeout = timedelta(seconds=rpc_timeout)

    async def start_case(self, inp: CaseInput) -> None:
        """Start the case workflow; starting it again (a retried request) attaches to the same run."""
        order = inp.request.order
        try:
            # By name: the API needs the workflow's contract (domain.names), not its code.
            await self.client.start_workflow(
                WORKFLOW_TYPE,
                inp,
                id=workflow_id_for(inp.case_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
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
                rpc_timeout=self.rpc_timeout,
            )
        except RPCError as err:
            raise Problem(503, f"the workflow service is unavailable: {err.message}") from err

    async def start_handback(self, inp: HandbackInput) -> None:
        """Start the person's hand-back (services/handback.py); raises RPCError when Temporal cannot
        be reached."""
        await start_handback(self.client, self.task_queue, inp, self.rpc_timeout)

    async def act(
        self, case_id: str, action: Action, envelope: ActionEnvelope, update_id: str | None
    ) -> CaseView:
        handle = self.client.get_workflow_handle(workflow_id_for(case_id))
        try:
            return await handle.execute_update(
                action.value, envelope, id=update_id, result_type=CaseView, rpc_timeout=self.rpc_timeout
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                status = HTTP_STATUS_OF_REFUSAL.get(cause.type or "", 409)
                raise Problem(status, cause.message, type_=f"/problems/{cause.type or 'rejected'}") from err
            raise Problem(409, str(cause or err)) from err
        except WorkflowUpdateRPCTimeoutOrCancelledError as err:
            raise Problem(
                504, "the case did not answer in time; retry with the same Idempotency-Key"
            ) from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise Problem(409, "the case's workflow is no longer running; the case is closed") from err
            raise Problem(503, f"the workflow service is unavailable: {err.message}") from err

    async def signal_case(self, case_id: str, signal: str, arg: object) -> bool:
        """Signal one case; False when its workflow has ended. Raises RPCError when Temporal fails."""
        handle = self.client.get_workflow_handle(workflow_id_for(case_id))
        try:
            await handle.signal(signal, arg, rpc_timeout=self.rpc_timeout)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def query_case(self, case_id: str) -> CaseView:
        handle = self.client.get_workflow_handle(workflow_id_for(case_id))
        return await handle.query(QUERY_CASE, result_type=CaseView, rpc_timeout=self.rpc_timeout)


def reply_clock_id(message_id: str) -> str:
    return f"reply-{message_id}"


async def start_reply_clock(gateway: TemporalGateway, inp: ReplyClockInput) -> None:
    """Start the first-response clock of a customer message (again: attaches to the same run)."""
    try:
        await gateway.client.start_workflow(
            REPLY_CLOCK_TYPE,
            inp,
            id=reply_clock_id(inp.message_id),
            task_queue=gateway.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"First response to {inp.message_id} of case {inp.case_id}",
            rpc_timeout=gateway.rpc_timeout,
        )
    except RPCError as err:
        raise Problem(503, f"the workflow service is unavailable: {err.message}") from err


async def signal_replied(gateway: TemporalGateway, message_ids: list[str], at: datetime) -> list[str]:
    """Tell the clocks of these messages that the platform answered; the ids not told (the store
    has the answer too, so a clock that was not told finds it when its limit passes)."""
    missed: list[str] = []
    for message_id in message_ids:
        try:
            handle = gateway.client.get_workflow_handle(reply_clock_id(message_id))
            await handle.signal(SIGNAL_REPLIED, at, rpc_timeout=gateway.rpc_timeout)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:  # a clock that already ended needs nothing
                missed.append(message_id)
    return missed
