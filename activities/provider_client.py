"""HTTP adapter for the provider APIs (payments, logistics, coupons, messaging).

Sync httpx, because activities are plain functions run in the worker's thread pool; one client (one
connection pool) is shared by those threads. Every call carries the caller's idempotency key and a
fresh `X-Request-Id`. Errors are sorted by what the caller may do next:

- `ProviderUnavailable`: the provider said 5xx or could not be reached; nothing happened as far as we
  know, so retrying with the same key is safe.
- `ProviderTimeout`: the request may have been carried out but no usable answer came back (read
  timeout, connection dropped mid-answer). The outcome is unclear: ask (`get_refund`) before paying.
- `ProviderRejected`: a 4xx (409 = the key was used for a different request); retrying cannot help.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.settings import Settings, get_settings
from domain.money import Money

__all__ = [
    "CreditResult",
    "NotificationResult",
    "ProviderClient",
    "ProviderError",
    "ProviderRejected",
    "ProviderTimeout",
    "ProviderUnavailable",
    "Receipt",
    "RefundResult",
    "ReturnLabelResult",
    "ShipmentResult",
]

# Failures that happen before the request can have reached the provider.
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


class ProviderError(Exception):
    """Base of the provider errors; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderUnavailable(ProviderError):
    """5xx or unreachable: nothing happened as far as we know; retry with the same key."""


class ProviderTimeout(ProviderError):
    """No usable answer after the request went out: the outcome is unclear."""


class ProviderRejected(ProviderError):
    """A 4xx: the provider refused the request; not retryable."""

    status: int

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}", status)
        self.detail = detail


class Result(BaseModel):
    """Provider answers are read leniently (extra fields ignored): providers add fields over time."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True)


class RefundResult(Result):
    refund_id: str
    status: str
    amount: Money
    case_id: str | None = None
    idempotency_key: str | None = None
    created_at: datetime | None = None
    replayed: bool = False  # true when the provider had seen this key before


class Receipt(Result):
    """What the non-money-moving operations answer: the provider's id for it."""

    id: str
    case_id: str | None = None
    created_at: datetime | None = None
    replayed: bool = False


class ReturnLabelResult(Receipt):
    id: str = Field(validation_alias="label_id")
    tracking_no: str = Field(validation_alias="tracking_number")
    carrier: str | None = None
    payer: str | None = None


class ShipmentResult(Receipt):
    id: str = Field(validation_alias="shipment_id")
    tracking_no: str = Field(validation_alias="tracking_number")
    carrier: str | None = None
    kind: str | None = None
    sku: str | None = None


class CarrierClaimResult(Receipt):
    id: str = Field(validation_alias="claim_id")
    tracking_no: str | None = None


class CreditResult(Receipt):
    id: str = Field(validation_alias="credit_id")
    kind: str | None = None
    amount: Money | None = None


class NotificationResult(Receipt):
    id: str = Field(validation_alias="notification_id")


R = TypeVar("R", bound=Result)


def _detail(response: httpx.Response) -> str:
    """The problem document's `detail`, or the start of whatever the provider said."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return response.text[:500]


class ProviderClient:
    """One client per worker process; use it as a context manager or call `close()`."""

    def __init__(self, base_url: str, timeout_seconds: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 2.0)),
            headers={"Accept": "application/json", "User-Agent": "aftersales-orchestrator"},
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ProviderClient:
        settings = settings or get_settings()
        return cls(settings.resolved_provider_base_url, settings.provider_timeout_seconds)

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        key: str,
        body: dict[str, Any] | None = None,
        *,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """One request; the answer's JSON, None for a tolerated 404, or a provider error."""
        headers = {"Idempotency-Key": key, "X-Request-Id": uuid.uuid4().hex}
        where = f"{method} {path}"
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except NOT_SENT as err:
            raise ProviderUnavailable(f"{where}: {type(err).__name__}: {err}") from err
        except httpx.TimeoutException as err:
            raise ProviderTimeout(f"{where}: no answer in time ({type(err).__name__})") from err
        except httpx.TransportError as err:
            raise ProviderTimeout(f"{where}: connection lost before the answer: {err}") from err
        status = response.status_code
        if status >= 500:
            raise ProviderUnavailable(f"{where}: HTTP {status}: {_detail(response)}", status)
        if status == 404 and missing_ok:
            return None
        if not 200 <= status < 300:
            raise ProviderRejected(status, _detail(response))
        try:
            data = response.json()
        except ValueError as err:
            raise ProviderTimeout(f"{where}: HTTP {status} with an unreadable body", status) from err
        if not isinstance(data, dict):
            raise ProviderTimeout(f"{where}: HTTP {status} with an unexpected body", status)
        return data

    def _operate(self, model: type[R], path: str, key: str, body: dict[str, Any]) -> R:
        data = self._send("POST", path, key, body)
        return _read(model, path, data)

    def refund(
        self,
        idempotency_key: str,
        case_id: str,
        order_id: str,
        amount: Money,
        payment_method: str,
        reason: str | None = None,
    ) -> RefundResult:
        """Refund to the original payment method; the same key never pays twice."""
        body = {
            "case_id": case_id,
            "order_id": order_id,
            "amount": amount.model_dump(mode="json"),
            "payment_method": payment_method,
        }
        if reason:
            body["reason"] = reason
        return self._operate(RefundResult, "/v1/refunds", idempotency_key, body)

    def get_refund(self, idempotency_key: str) -> RefundResult | None:
        """The refund made under a key, or None: how to resolve a `ProviderTimeout` without paying again."""
        path = "/v1/refunds/" + quote(idempotency_key, safe="")
        data = self._send("GET", path, idempotency_key, missing_ok=True)
        return None if data is None else _read(RefundResult, path, data)

    def create_return_label(
        self, idempotency_key: str, case_id: str, payer: str, carrier: str | None = None
    ) -> ReturnLabelResult:
        body = {"case_id": case_id, "payer": payer, "carrier": carrier}
        return self._operate(ReturnLabelResult, "/v1/return-labels", idempotency_key, body)

    def open_carrier_claim(self, idempotency_key: str, case_id: str, tracking_no: str) -> CarrierClaimResult:
        body = {"case_id": case_id, "tracking_no": tracking_no}
        return self._operate(CarrierClaimResult, "/v1/carrier-claims", idempotency_key, body)

    def create_shipment(
        self, idempotency_key: str, case_id: str, kind: str, sku: str | None = None
    ) -> ShipmentResult:
        body = {"case_id": case_id, "kind": kind, "sku": sku}
        return self._operate(ShipmentResult, "/v1/shipments", idempotency_key, body)

    def issue_credit(self, idempotency_key: str, case_id: str, kind: str, amount: Money) -> CreditResult:
        body = {"case_id": case_id, "kind": kind, "amount": amount.model_dump(mode="json")}
        return self._operate(CreditResult, "/v1/credits", idempotency_key, body)

    def notify(
        self,
        idempotency_key: str,
        case_id: str,
        recipient_role: str,
        template: str,
        message: str,
        channel: str | None = None,
        to: str | None = None,
    ) -> NotificationResult:
        body: dict[str, str | None] = {
            "case_id": case_id,
            "recipient_role": recipient_role,
            "template": template,
            "message": message,
        }
        if channel is not None:  # a conversation message, on the contact's channel
            body |= {"channel": channel, "to": to}
        return self._operate(NotificationResult, "/v1/notifications", idempotency_key, body)


def _read(model: type[R], path: str, data: dict[str, Any] | None) -> R:
    """A 2xx we cannot read may still mean the operation happened: report it as unclear."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ProviderTimeout(f"{path}: answer not understood: {err.error_count()} error(s)") from err
