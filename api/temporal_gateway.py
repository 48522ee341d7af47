"""How the API talks to case workflows: start idempotently, act through Updates, map failures to HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
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
    workflow_id_for,
)
from domain.people import HandbackInput
from services.case_start import start_case_workflow
from services.handback import start_handback


class WorkflowNotRunning(Problem):
    """An action found no running workflow: the case is closed, or its start has not happened yet
    (the route starts a pending one and acts again)."""

    def __init__(self, case_id: str) -> None:
        super().__init__(409, "the case's workflow is no longer running; the case is closed")
        self.case_id = case_id


class TemporalGateway:
    def __init__(self, client: Client, task_queue: str, rpc_timeout: float) -> None:
        self.client = client
        self.task_queue = task_queue
        self.rpc_timeout = timedelta(seconds=rpc_timeout)

    async def start_case(self, inp: CaseInput) -> bool:
        """Start the case workflow, or attach to it when it runs; False when it has already ended (a
        closed case is never started again). Raises RPCError when Temporal cannot be reached."""
        return await start_case_workflow(self.client, self.task_queue, inp, self.rpc_timeout)

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
                raise WorkflowNotRunning(case_id) from err
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
