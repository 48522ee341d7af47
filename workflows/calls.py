"""The activities the case workflow calls, each with its timeouts and retry policy.

Store writes and calendar loads are local activities: the store is the worker's own database and
every write is idempotent (by version, event seq and message key), so a local activity that runs
again after a crash changes nothing, and none of them costs history events beyond one marker.

Provider calls (return label, refund, coupon) are tried as a local activity first, a few quick
attempts in the workflow task; when those fail they continue as an ordinary activity with the full
retry policy, so an outage is retried durably (visible in the history and the UI). Every attempt of
both carries the same idempotency key, so nothing is done twice. A refusal (ProviderRejected,
RefundLimitExceeded) is final at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from domain.models import CaseDelta

T = TypeVar("T")
FINAL_ERRORS = ["ProviderRejected", "RefundLimitExceeded"]
STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=8,
    non_retryable_error_types=FINAL_ERRORS,
)
# Money calls keep trying through a provider outage (every attempt carries the same key, so nothing is
# paid twice); the step's clock tells people when it takes too long.
MONEY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=FINAL_ERRORS,
)
MONEY_CALL_DEADLINE = timedelta(days=3)
# The local first try: three quick attempts inside one workflow task.
LOCAL_TRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=3,
    non_retryable_error_types=FINAL_ERRORS,
)
LOCAL_TRY_DEADLINE = timedelta(seconds=30)


class CallFailed(ApplicationError):
    """A provider call failed for good: refused, or out of retries. Its message says why."""


def is_final(err: FailureError) -> bool:
    """A refusal that no retry changes (the provider said no, or the refund ceiling holds). A local
    activity's failure arrives as the activity's own error, an ordinary activity's wrapped in
    ActivityError."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and (cause.non_retryable or cause.type in FINAL_ERRORS)


def _failed(err: FailureError) -> CallFailed:
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    return CallFailed(str(cause), type="CallFailed", non_retryable=True)


async def record(delta: CaseDelta) -> None:
    await workflow.execute_local_activity(
        act.RECORD_DELTA,
        delta,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=STORE_RETRY,
        summary=f"store v{delta.version}",
    )


async def load_calendars(request: act.CalendarRequest) -> act.CalendarBundle:
    return await workflow.execute_local_activity(
        act.LOAD_CALENDARS,
        request,
        result_type=act.CalendarBundle,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=STORE_RETRY,
        summary=f"calendar snapshot {', '.join(request.names)}",
    )


async def reply_clock(activity: str, arg: Any, result_type: type[T] | None = None) -> T | None:
    """A store write of the reply clock (local: the store is the worker's own; idempotent)."""
    result: T | None = await workflow.execute_local_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=STORE_RETRY,
        summary=activity,
    )
    return result


async def reclaim_lines(case_id: str) -> act.LineClaim:
    return await workflow.execute_local_activity(
        act.RECLAIM_LINES,
        act.LineClaimRequest(case_id=case_id),
        result_type=act.LineClaim,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=STORE_RETRY,
        summary="re-claim the order lines",
    )


async def pick_assignee(case_id: str, queue: str | None) -> act.AssigneePick | None:
    """Who should work the case now (auto-assignment); None when the store cannot say (the case stays
    in its queue, as when nobody is online: someone claims it)."""
    try:
        return await workflow.execute_local_activity(
            act.PICK_ASSIGNEE,
            act.AssigneeRequest(case_id=case_id, queue=queue),
            result_type=act.AssigneePick,
            start_to_close_timeout=timedelta(seconds=10),
            schedule_to_close_timeout=timedelta(seconds=30),
            retry_policy=LOCAL_TRY,
            summary=f"pick an agent of queue {queue or 'of the case'}",
        )
    except FailureError:
        return None


async def provider(
    activity: str,
    arg: Any,
    result_type: type[T],
    summary: str,
    money: bool = False,
    before_durable: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """A provider call: local first, then durable with the full retry policy (see the module doc).

    `before_durable` runs before the durable attempts (the case records that it now waits).
    Raises CallFailed when the call failed for good."""
    try:
        return await workflow.execute_local_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=15),
            schedule_to_close_timeout=LOCAL_TRY_DEADLINE,
            retry_policy=LOCAL_TRY,
            summary=summary,
        )
    except FailureError as err:
        if is_final(err):
            raise _failed(err) from err
    if before_durable is not None:
        await before_durable()
    try:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=60 if money else 30),
            schedule_to_close_timeout=MONEY_CALL_DEADLINE if money else None,
            retry_policy=MONEY_RETRY if money else PROVIDER_RETRY,
            summary=summary,
        )
    except FailureError as err:
        raise _failed(err) from err


async def refund(
    request: act.RefundRequest, before_durable: Callable[[], Awaitable[None]]
) -> act.RefundOutcome:
    """The refund, keyed by case and refund seq: tried again as often as it takes, paid once."""
    summary = f"refund {request.amount}"
    return await provider(
        act.EXECUTE_REFUND, request, act.RefundOutcome, summary, money=True, before_durable=before_durable
    )


async def credit(
    request: act.CreditRequest, before_durable: Callable[[], Awaitable[None]]
) -> act.ProviderReceipt:
    """A coupon credit, keyed by its idempotency key."""
    summary = f"coupon {request.amount}"
    return await provider(
        act.ISSUE_CREDIT, request, act.ProviderReceipt, summary, money=True, before_durable=before_durable
    )
