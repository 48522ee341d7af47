"""Provider simulator: payments, logistics, coupons and messaging behind one small HTTP API.

It keeps a ledger, so a double refund is visible, and injects faults on the provider endpoints:
`error_rate` answers 503 without doing anything; `timeout_rate` does the operation and then does not
answer in time — the unclear outcome a caller must resolve by asking, never by paying again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from core.settings import get_settings
from domain.money import Money
from simulator.ledger import Ledger, LedgerConflict

log = logging.getLogger("simulator")
PROBLEM = "application/problem+json"
Key = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    timeout_sleep_seconds: float = Field(default=30.0, ge=0, le=600)
    seed: int | None = None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RefundBody(Body):
    case_id: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=64)
    amount: Money
    payment_method: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500)


class ReturnLabelBody(Body):
    case_id: str = Field(min_length=1, max_length=64)
    payer: Literal["merchant", "customer", "platform"]
    carrier: str | None = Field(default=None, max_length=64)


class ShipmentBody(Body):
    case_id: str = Field(min_length=1, max_length=64)
    kind: Literal["replacement", "resend", "repair_return"]
    sku: str | None = Field(default=None, max_length=64)


class CreditBody(Body):
    case_id: str = Field(min_length=1, max_length=64)
    kind: Literal["coupon", "balance"]
    amount: Money


class NotificationBody(Body):
    case_id: str = Field(min_length=1, max_length=64)
    recipient_role: str = Field(min_length=1, max_length=40)
    template: str = Field(min_length=1, max_length=60)
    message: str = Field(max_length=2000)


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": detail.split(":")[0], "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM,
    )


def create_app(db_path: str, faults: FaultConfig | None = None) -> FastAPI:
    app = FastAPI(title="Provider simulator", version="0.1.0")
    ledger = Ledger(db_path)
    state = {"faults": faults or FaultConfig()}
    rng = random.Random(state["faults"].seed)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return problem(422, f"invalid request: {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail))

    async def operate(
        key: str | None, kind: str, case_id: str, body: BaseModel, material: tuple[str, ...]
    ) -> JSONResponse:
        if not key:
            return problem(400, "missing Idempotency-Key header")
        current: FaultConfig = state["faults"]
        if current.latency_ms:
            await asyncio.sleep(current.latency_ms / 1000)
        if rng.random() < current.error_rate:
            log.info("fault: 503 for %s %s", kind, key)
            return problem(503, "injected fault: provider unavailable")
        request = body.model_dump(mode="json")
        try:
            result, replayed = await run_in_threadpool(ledger.record, key, kind, case_id, request, material)
        except LedgerConflict as err:
            return problem(409, f"idempotency conflict: {err}")
        if rng.random() < current.timeout_rate:
            log.info("fault: %s %s done but answered late", kind, key)
            await asyncio.sleep(current.timeout_sleep_seconds)
        return JSONResponse(result, status_code=200 if replayed else 201)

    @app.post("/v1/refunds", status_code=201)
    async def refund(body: RefundBody, key: Key = None) -> JSONResponse:
        """Refund to the original payment method."""
        return await operate(key, "refund", body.case_id, body, ("amount", "order_id"))

    @app.get("/v1/refunds/{key}")
    async def get_refund(key: str) -> JSONResponse:
        """Look a refund up by its idempotency key: how a caller resolves an unclear answer."""
        found = await run_in_threadpool(ledger.get, key)
        if found is None or found.get("kind") != "refund":
            return problem(404, f"no refund with key {key}")
        return JSONResponse(found)

    @app.post("/v1/return-labels", status_code=201)
    async def return_label(body: ReturnLabelBody, key: Key = None) -> JSONResponse:
        return await operate(key, "return_label", body.case_id, body, ("payer",))

    @app.post("/v1/shipments", status_code=201)
    async def shipment(body: ShipmentBody, key: Key = None) -> JSONResponse:
        return await operate(key, "shipment", body.case_id, body, ("kind",))

    @app.post("/v1/credits", status_code=201)
    async def credit(body: CreditBody, key: Key = None) -> JSONResponse:
        return await operate(key, "credit", body.case_id, body, ("amount", "kind"))

    @app.post("/v1/notifications", status_code=201)
    async def notification(body: NotificationBody, key: Key = None) -> JSONResponse:
        return await operate(key, "notification", body.case_id, body, ("template",))

    @app.get("/v1/ledger")
    async def entries(
        case_id: Annotated[str | None, Query(max_length=64)] = None,
        kind: Annotated[str | None, Query(max_length=20)] = None,
    ) -> dict[str, Any]:
        return {"entries": await run_in_threadpool(ledger.entries, case_id, kind)}

    @app.get("/v1/ledger/summary")
    async def summary() -> dict[str, Any]:
        """Refunds per case: more than one for a single decision would be a double payment."""
        return {"refunds_by_case": await run_in_threadpool(ledger.refund_summary)}

    @app.get("/v1/admin/faults", response_model=FaultConfig)
    async def get_faults() -> FaultConfig:
        return state["faults"]

    @app.put("/v1/admin/faults", response_model=FaultConfig)
    async def put_faults(config: FaultConfig) -> FaultConfig:
        state["faults"] = config
        log.info("faults now %s", config.model_dump())
        return config

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_settings() -> FastAPI:
    settings = get_settings()
    settings.local_dir.mkdir(parents=True, exist_ok=True)
    faults = FaultConfig(
        error_rate=settings.simulator_error_rate,
        timeout_rate=settings.simulator_timeout_rate,
        latency_ms=settings.simulator_latency_ms,
    )
    return create_app(str(settings.local_dir / "simulator.db"), faults)
