"""Provider activities: refunds, return labels, shipments, credits and notifications over HTTP.

Money moves at most once per decision: the refund ledger row in the case store is reserved first,
the provider call carries a key built from the case id and the refund's sequence (never a run id),
and an unclear answer (timeout) is resolved by asking the provider, never by paying again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities import contracts as c
from activities.definition import defn
from activities.provider_client import ProviderClient, ProviderRejected, ProviderTimeout, ProviderUnavailable
from domain.names import refund_key
from store import refunds
from store.errors import RefundLimitExceeded

log = logging.getLogger(__name__)
T = TypeVar("T")


class ProviderActivities:
    def __init__(self, sessions: sessionmaker[Session], client: ProviderClient) -> None:
        self._sessions = sessions
        self._client = client

    @defn(name=c.EXECUTE_REFUND)
    def execute_refund(self, request: c.RefundRequest) -> c.RefundOutcome:
        key = refund_key(request.case_id, request.seq)
        try:
            with self._sessions.begin() as session:
                row = refunds.reserve_refund(session, request.case_id, request.seq, request.amount)
                status = row.status
        except RefundLimitExceeded as err:
            raise ApplicationError(str(err), type="RefundLimitExceeded", non_retryable=True) from err
        if status == "failed":
            # The provider refused this decision before: a new decision (a new seq) may try again.
            raise ApplicationError(
                f"refund {key} was refused by the provider", type="ProviderRejected", non_retryable=True
            )
        if status == "succeeded":
            return c.RefundOutcome(
                status="succeeded", provider_refund_id=row.provider_refund_id, amount=request.amount
            )
        if status == "unknown":
            # The last attempt did not hear back: ask before paying.
            found = self._client.get_refund(key)
            if found is not None:
                return self._settle(request, found.refund_id)
        try:
            result = self._client.refund(
                key, request.case_id, request.order_id, request.amount, request.payment_method
            )
        except ProviderTimeout as err:
            self._mark(request, "unknown")
            log.warning("refund %s: provider answer unclear, will ask before retrying", key)
            raise ApplicationError(f"refund {key}: provider answer unclear", type="ProviderTimeout") from err
        except ProviderUnavailable as err:
            raise ApplicationError(
                f"refund {key}: provider unavailable: {err}", type="ProviderUnavailable"
            ) from err
        except ProviderRejected as err:
            self._mark(request, "failed")
            raise ApplicationError(
                f"refund {key} rejected by the provider: {err}", type="ProviderRejected", non_retryable=True
            ) from err
        return self._settle(request, result.refund_id)

    def _settle(self, request: c.RefundRequest, provider_refund_id: str) -> c.RefundOutcome:
        self._mark(request, "succeeded", provider_refund_id)
        return c.RefundOutcome(
            status="succeeded", provider_refund_id=provider_refund_id, amount=request.amount
        )

    def _mark(self, request: c.RefundRequest, status: str, provider_refund_id: str | None = None) -> None:
        with self._sessions.begin() as session:
            refunds.mark_refund(session, request.case_id, request.seq, status, provider_refund_id)

    @defn(name=c.SEND_NOTIFICATION)
    def send_notification(self, request: c.NotificationRequest) -> c.ProviderReceipt:
        result = _call(
            lambda: self._client.notify(
                request.idempotency_key,
                request.case_id,
                request.recipient_role,
                request.template,
                request.message,
            )
        )
        return c.ProviderReceipt(reference=result.id)

    @defn(name=c.CREATE_RETURN_LABEL)
    def create_return_label(self, request: c.ReturnLabelRequest) -> c.ProviderReceipt:
        result = _call(
            lambda: self._client.create_return_label(request.idempotency_key, request.case_id, request.payer)
        )
        return c.ProviderReceipt(reference=result.id, tracking_no=result.tracking_no)

    @defn(name=c.OPEN_CARRIER_CLAIM)
    def open_carrier_claim(self, request: c.CarrierClaimRequest) -> c.ProviderReceipt:
        result = _call(
            lambda: self._client.open_carrier_claim(
                request.idempotency_key, request.case_id, request.tracking_no
            )
        )
        return c.ProviderReceipt(reference=result.id, tracking_no=request.tracking_no)

    @defn(name=c.CREATE_SHIPMENT)
    def create_shipment(self, request: c.ShipmentRequest) -> c.ProviderReceipt:
        result = _call(
            lambda: self._client.create_shipment(
                request.idempotency_key, request.case_id, request.kind, request.sku
            )
        )
        return c.ProviderReceipt(reference=result.id, tracking_no=result.tracking_no)

    @defn(name=c.ISSUE_CREDIT)
    def issue_credit(self, request: c.CreditRequest) -> c.ProviderReceipt:
        result = _call(
            lambda: self._client.issue_credit(
                request.idempotency_key, request.case_id, request.kind, request.amount
            )
        )
        return c.ProviderReceipt(reference=result.id)


def _call(fn: Callable[[], T]) -> T:
    """Map provider errors to Temporal: rejections are final, the rest retry with the same key."""
    try:
        return fn()
    except ProviderRejected as err:
        raise ApplicationError(str(err), type="ProviderRejected", non_retryable=True) from err
    except (ProviderTimeout, ProviderUnavailable) as err:
        raise ApplicationError(str(err), type=type(err).__name__) from err
