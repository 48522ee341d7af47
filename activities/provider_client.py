"""HTTP adapter for the provider APIs (payments, logistics, coupons, messaging).

Sync httpx: activities are plain functions run in the worker's thread pool. Every call carries the
caller's idempotency key; errors are sorted by what the caller may do next:
`ProviderUnavailable` (nothing happened as far as we know: retry), `ProviderTimeout` (the outcome is
unclear: ask before retrying money), `ProviderRejected` (a 4xx: do not retry).
"""

from __future__ import annotations

import uuid
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel

from core.settings import Settings
from domain.money import Money


class ProviderError(Exception):
    pass


class ProviderUnavailable(ProviderError):
    pass


class ProviderTimeout(ProviderError):
    pass


class ProviderRejected(ProviderError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Receipt(BaseModel):
    id: str
    tracking_no: str | None = None
    replayed: bool = False


class RefundResult(BaseModel):
    refund_id: str
    status: str
    amount: Money
    replayed: bool = False


class ProviderClient:
    def __init__(self, base_url: str, timeout_seconds: float = 5.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_seconds, connect=2.0))

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderClient:
        return cls(settings.resolved_provider_base_url, settings.provider_timeout_seconds)

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, key: str | None = None, json: Any = None) -> httpx.Response:
        headers = {"X-Request-Id": str(uuid.uuid4())}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            response = self._http.request(method, path, json=json, headers=headers)
        except httpx.TimeoutException as err:
            if isinstance(err, httpx.ConnectTimeout):
                raise ProviderUnavailable(f"{path}: connect timeout") from err
            raise ProviderTimeout(f"{path}: no answer in time") from err
        except httpx.TransportError as err:
            raise ProviderUnavailable(f"{path}: {type(err).__name__}: {err}") from err
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{path}: HTTP {response.status_code}")
        if response.status_code >= 400 and response.status_code != 404:
            detail = response.json().get("detail", response.text) if response.content else ""
            raise ProviderRejected(response.status_code, str(detail))
        return response

    def _operate(self, path: str, key: str, body: dict[str, Any]) -> Receipt:
        return Receipt.model_validate(self._send("POST", path, key, body).json())

    def refund(
        self, key: str, case_id: str, order_id: str, amount: Money, payment_method: str
    ) -> RefundResult:
        body = {
            "case_id": case_id,
            "order_id": order_id,
            "amount": amount.model_dump(mode="json"),
            "payment_method": payment_method,
        }
        data = self._send("POST", "/v1/refunds", key, body).json()
        return RefundResult(
            refund_id=data["id"], status=data["status"], amount=data["amount"], replayed=data["replayed"]
        )

    def get_refund(self, key: str) -> RefundResult | None:
        response = self._send("GET", f"/v1/refunds/{key}")
        if response.status_code == 404:
            return None
        data = response.json()
        return RefundResult(refund_id=data["id"], status=data["status"], amount=data["amount"], replayed=True)

    def create_return_label(self, key: str, case_id: str, payer: str, carrier: str | None = None) -> Receipt:
        return self._operate(
            "/v1/return-labels", key, {"case_id": case_id, "payer": payer, "carrier": carrier}
        )

    def create_shipment(self, key: str, case_id: str, kind: str, sku: str | None = None) -> Receipt:
        return self._operate("/v1/shipments", key, {"case_id": case_id, "kind": kind, "sku": sku})

    def issue_credit(self, key: str, case_id: str, kind: str, amount: Money) -> Receipt:
        body = {"case_id": case_id, "kind": kind, "amount": amount.model_dump(mode="json")}
        return self._operate("/v1/credits", key, body)

    def notify(self, key: str, case_id: str, recipient_role: str, template: str, message: str) -> Receipt:
        body = {
            "case_id": case_id,
            "recipient_role": recipient_role,
            "template": template,
            "message": message,
        }
        return self._operate("/v1/notifications", key, body)
