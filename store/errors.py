"""Errors the store raises for the API and activities to map (409, non-retryable, …)."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the case store's domain errors."""


class IdempotencyConflict(StoreError):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"idempotency key already used for case {case_id} with another body")
        self.case_id = case_id


class OpenCaseExists(StoreError):
    """At most one open case per order line."""

    def __init__(self, case_id: str, order_id: str, line_id: str) -> None:
        super().__init__(f"order {order_id} line {line_id} already has open case {case_id}")
        self.case_id = case_id
        self.order_id = order_id
        self.line_id = line_id


class RefundLimitExceeded(StoreError):
    """A refund would exceed what was paid minus what was already refunded."""


class RefundConflict(RefundLimitExceeded):
    """The same refund decision (case, seq) came back with another amount or currency.

    A subclass of RefundLimitExceeded on purpose: callers that stop instead of retrying when a refund
    is refused stop here too, since paying an amount that was never checked against the limit is worse.
    """


class OrderLineMismatch(StoreError):
    """A case names another paid amount for an order line than an earlier case recorded."""

    def __init__(self, order_id: str, line_id: str, recorded: object, given: object) -> None:
        super().__init__(
            f"order {order_id} line {line_id} was recorded as paid {recorded} by an earlier case, not {given}"
        )
        self.order_id = order_id
        self.line_id = line_id


class ActionKeyConflict(StoreError):
    """An Idempotency-Key came back with another action, case or body than its first use."""

    def __init__(self, detail: str, case_id: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.case_id = case_id
