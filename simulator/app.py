"""Provider simulator: payments, logistics, coupons and messaging behind one small HTTP API.

It stands in for the real providers in the embedded default and the tests. It keeps a ledger, so a
double refund is visible, and injects faults on the provider (POST) endpoints: `latency_ms` delays
every answer; `error_rate` answers 503 without doing anything; `timeout_rate` does the operation and
then answers too late — the unclear outcome a caller must resolve by asking (`GET /v1/refunds/{key}`),
never by paying again. Lookups, the ledger, admin and health endpoints are never faulted. It also
receives webhooks (simulator.webhooks): verifies their signatures, records them, fails or slows some.

`uvicorn simulator.app:app` serves an app built from settings (on first access, not on import);
tests call `create_app` with their own database path and faults.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from core.keyring import carrier_secrets
from core.settings import get_settings
from domain.money import Money
from simulator.carrier import CarrierConfig, carrier_router
from simulator.ledger import Kind, Ledger, LedgerConflict
from simulator.webhooks import WebhookInboxes, build_router

log = logging.getLogger("simulator")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://aftersales.invalid/problems/"
ID_FIELD = Field(min_length=1, max_length=64)


class FaultConfig(BaseModel):
    """Faults applied to the provider endpoints; replaced as a whole by `PUT /v1/admin/faults`."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls answered 503")
    timeout_rate: float = Field(default=0.0, ge=0, le=1, description="share of calls done but answered late")
    latency_ms: int = Field(default=0, ge=0, le=60_000, description="delay before every answer")
    timeout_sleep_seconds: float = Field(
        default=30.0, ge=0, le=600, description="how late a timed-out call answers"
    )
    seed: int | None = Field(default=None, description="seed for the fault dice (reproducible chaos runs)")
    webhook_error_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of webhook arrivals answered 500 (by webhook-id and attempt)",
    )
    webhook_slow_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of webhook arrivals answered late"
    )
    webhook_slow_ms: int = Field(
        default=1000, ge=0, le=60_000, description="how late a slow webhook is answered"
    )


class Faults:
    """The current fault config and its dice; only touched on the event loop, so no lock."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def update(self, config: FaultConfig) -> None:
        self.config = config
        if config.seed is not None:
            self.rng = random.Random(config.seed)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate


class Problem(Exception):
    """An RFC 9457 problem answer, raised from anywhere in a handler."""

    def __init__(
        self, status: int, detail: str, kind: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = PROBLEM_BASE + kind if kind else "about:blank"
        self.headers = headers


def problem_response(
    status: int,
    detail: str,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {"type": type_, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    return JSONResponse({**body, **extensions}, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Request bodies: unknown fields are refused, so a caller's typo is a 422 and not a silent default.


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str = ID_FIELD


def _positive(amount: Money) -> Money:
    if amount.amount <= 0:
        raise ValueError("amount must be greater than zero")
    return amount


PositiveMoney = Annotated[Money, AfterValidator(_positive)]


class RefundBody(Body):
    order_id: str = ID_FIELD
    amount: PositiveMoney
    payment_method: str = ID_FIELD
    reason: str | None = Field(default=None, max_length=500)


class ReturnLabelBody(Body):
    payer: Literal["merchant", "customer", "platform"]
    carrier: str | None = Field(default=None, max_length=64)


class ShipmentBody(Body):
    kind: Literal["replacement", "resend", "repair_return"]
    sku: str | None = Field(default=None, max_length=64)


class CreditBody(Body):
    kind: Literal["coupon", "balance"]
    amount: PositiveMoney


class CarrierClaimBody(Body):
    tracking_no: str = ID_FIELD
    carrier: str | None = Field(default=None, max_length=64)


class NotificationBody(Body):
    recipient_role: str = Field(min_length=1, max_length=40)
    template: str = Field(min_length=1, max_length=80)
    message: str = Field(max_length=4000)
    # A conversation message goes on the contact's channel to an address (phone, e-mail, app user).
    channel: Literal["sms", "email", "push"] | None = None
    to: str | None = Field(default=None, max_length=320)


# Answers. POST answers carry `replayed`: true when the key was seen before (status 200, not 201).


class Stored(BaseModel):
    case_id: str
    idempotency_key: str
    created_at: datetime


class Refund(Stored):
    refund_id: str
    status: Literal["succeeded"]
    amount: Money
    order_id: str
    payment_method: str
    reason: str


class RefundAnswer(Refund):
    replayed: bool


class ReturnLabelAnswer(Stored):
    label_id: str
    tracking_number: str
    carrier: str
    payer: str
    replayed: bool


class ShipmentAnswer(Stored):
    shipment_id: str
    tracking_number: str
    carrier: str
    kind: str
    sku: str | None
    replayed: bool


class CarrierClaimAnswer(Stored):
    claim_id: str
    tracking_no: str
    carrier: str
    status: str
    replayed: bool


class CreditAnswer(Stored):
    credit_id: str
    kind: str
    amount: Money
    status: str
    replayed: bool


class NotificationAnswer(Stored):
    notification_id: str
    recipient_role: str
    template: str
    message: str
    channel: str | None = None
    to: str | None = None
    status: str
    replayed: bool


class LedgerEntry(BaseModel):
    kind: Kind
    idempotency_key: str
    case_id: str
    attempts: int = Field(description="calls with this key that reached the ledger")
    created_at: datetime
    last_attempt_at: datetime
    record: dict[str, Any]


class LedgerEntries(BaseModel):
    entries: list[LedgerEntry]


class CaseRefunds(BaseModel):
    refunds: int
    totals: list[Money] = Field(description="one total per currency")


class LedgerSummary(BaseModel):
    refunds_by_case: dict[str, CaseRefunds]


@dataclass(frozen=True)
class Call:
    """What every provider call carries besides its body."""

    key: str
    request_id: str | None


def provider_call(
    key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="one key per intended operation"),
    ] = None,
    request_id: Annotated[str | None, Header(alias="X-Request-Id", max_length=128)] = None,
) -> Call:
    if not key:
        raise Problem(400, "the Idempotency-Key header is required", "missing-idempotency-key")
    return Call(key, request_id)


ProviderCall = Annotated[Call, Depends(provider_call)]

FAULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "no Idempotency-Key header"},
    409: {"description": "the key was used with a different request"},
    422: {"description": "invalid body"},
    503: {"description": "injected fault: nothing was done"},
}


def create_app(
    db_path: str, faults: FaultConfig | None = None, carrier: CarrierConfig | None = None
) -> FastAPI:
    """The simulator over its own ledger at `db_path` (":memory:" allowed) with the given faults;
    with `carrier`, it plays the carrier too (signed tracking events to the API)."""
    ledger = Ledger(db_path)
    dice = Faults(faults or FaultConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ledger.close()

    app = FastAPI(title="Provider simulator", version="0.2.0", lifespan=lifespan)
    app.state.ledger = ledger
    app.state.faults = dice
    app.state.inboxes = inboxes = WebhookInboxes()
    app.include_router(build_router(inboxes, lambda: dice.config))

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.type, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: loc, message and type are enough to fix a request.
        errors = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
            for error in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return problem_response(422, f"{where}: {first['msg']}", PROBLEM_BASE + "validation", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering, so the server still logs the traceback.
        return problem_response(500, "the simulator failed; see its log")

    async def operate(kind: Kind, call: Call, body: Body, response: Response) -> dict[str, Any]:
        """Faults, then the ledger, then (maybe) a late answer — in that order, as a provider would."""
        config = dice.config
        extra = {"request_id": call.request_id, "case_id": body.case_id}
        if call.request_id:
            response.headers["X-Request-Id"] = call.request_id
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        if dice.roll(config.error_rate):
            log.info("fault: %s %s answered 503, nothing done", kind, call.key, extra=extra)
            raise Problem(
                503, "injected fault: provider unavailable", "unavailable", headers={"Retry-After": "1"}
            )
        fields = body.model_dump(mode="json", exclude={"case_id"})
        try:
            recorded = await run_in_threadpool(ledger.record, kind, call.key, body.case_id, fields)
        except LedgerConflict as err:
            log.warning("%s %s: %s", kind, call.key, err, extra=extra)
            raise Problem(409, str(err), "idempotency-conflict") from err
        log.info(
            "%s %s %s (attempt %d)",
            kind,
            call.key,
            "replayed" if recorded.replayed else "done",
            recorded.attempts,
            extra=extra,
        )
        if dice.roll(config.timeout_rate):
            log.info("fault: %s %s done but answered late", kind, call.key, extra=extra)
            await asyncio.sleep(config.timeout_sleep_seconds)
        response.status_code = 200 if recorded.replayed else 201
        return {**recorded.result, "replayed": recorded.replayed}

    @app.post("/v1/refunds", status_code=201, response_model=RefundAnswer, responses=FAULT_RESPONSES)
    async def refund(body: RefundBody, call: ProviderCall, response: Response) -> dict[str, Any]:
        """Refund to the original payment method, once per key."""
        return await operate("refund", call, body, response)

    @app.get("/v1/refunds/{idempotency_key:path}", response_model=Refund, responses={404: {}})
    async def get_refund(idempotency_key: str) -> dict[str, Any]:
        """The refund made under a key: how a caller resolves an unclear answer without paying again."""
        found = await run_in_threadpool(ledger.get_refund, idempotency_key)
        if found is None:
            raise Problem(404, f"no refund with idempotency key {idempotency_key!r}", "not-found")
        return found

    @app.post(
        "/v1/return-labels", status_code=201, response_model=ReturnLabelAnswer, responses=FAULT_RESPONSES
    )
    async def return_label(body: ReturnLabelBody, call: ProviderCall, response: Response) -> dict[str, Any]:
        """A prepaid return label; `payer` follows liability."""
        return await operate("return_label", call, body, response)

    @app.post("/v1/shipments", status_code=201, response_model=ShipmentAnswer, responses=FAULT_RESPONSES)
    async def shipment(body: ShipmentBody, call: ProviderCall, response: Response) -> dict[str, Any]:
        """An outbound shipment: replacement, resend of a missing part, or a repaired item going back."""
        return await operate("shipment", call, body, response)

    @app.post("/v1/credits", status_code=201, response_model=CreditAnswer, responses=FAULT_RESPONSES)
    async def credit(body: CreditBody, call: ProviderCall, response: Response) -> dict[str, Any]:
        """A coupon or balance credit: compensation the customer keeps the item for."""
        return await operate("credit", call, body, response)

    @app.post(
        "/v1/notifications", status_code=201, response_model=NotificationAnswer, responses=FAULT_RESPONSES
    )
    async def notification(body: NotificationBody, call: ProviderCall, response: Response) -> dict[str, Any]:
        """A message to a customer, merchant or team; sent once per key."""
        return await operate("notification", call, body, response)

    @app.post(
        "/v1/carrier-claims", status_code=201, response_model=CarrierClaimAnswer, responses=FAULT_RESPONSES
    )
    async def carrier_claim(body: CarrierClaimBody, call: ProviderCall, response: Response) -> dict[str, Any]:
        """A claim against the carrier for a lost parcel, once per key."""
        return await operate("carrier_claim", call, body, response)

    if carrier is not None:
        app.include_router(carrier_router(carrier, Problem))

    @app.get("/v1/ledger", response_model=LedgerEntries)
    async def entries(
        case_id: Annotated[str | None, Query(max_length=64)] = None,
        kind: Kind | None = None,
    ) -> dict[str, Any]:
        """Everything the providers did, oldest first, for a case and/or a kind."""
        return {"entries": await run_in_threadpool(ledger.entries, case_id, kind)}

    @app.get("/v1/ledger/summary", response_model=LedgerSummary)
    async def summary() -> dict[str, Any]:
        """Refund count and totals per case: two refunds for one decision would be a double payment."""
        return {"refunds_by_case": await run_in_threadpool(ledger.refund_summary)}

    @app.get("/v1/admin/faults", response_model=FaultConfig)
    async def get_faults() -> FaultConfig:
        return dice.config

    @app.put("/v1/admin/faults", response_model=FaultConfig)
    async def put_faults(config: FaultConfig) -> FaultConfig:
        """Replace the faults at run time (chaos tests); omitted fields take their defaults."""
        dice.update(config)
        log.info("faults now %s", config.model_dump())
        return config

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_settings() -> FastAPI:
    """The simulator as `python -m simulator` and docker run it: ledger under local_dir."""
    settings = get_settings()
    settings.local_dir.mkdir(parents=True, exist_ok=True)
    faults = FaultConfig(
        error_rate=settings.simulator_error_rate,
        timeout_rate=settings.simulator_timeout_rate,
        latency_ms=settings.simulator_latency_ms,
    )
    target = settings.simulator_carrier_target or f"http://{settings.api_host}:{settings.api_port}"
    carrier = CarrierConfig(target=target, secrets=carrier_secrets(settings))
    return create_app(str(settings.local_dir / "simulator.db"), faults, carrier)


_app: FastAPI | None = None


def __getattr__(name: str) -> FastAPI:
    """Module-level `app` for `uvicorn simulator.app:app`, built on first access so that importing
    this module (tests, `create_app`) opens no database under local_dir."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = app_from_settings()
    return _app
