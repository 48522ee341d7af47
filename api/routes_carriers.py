"""The carrier webhook (DESIGN §13): signed tracking events move a case's parcels along.

Each event is stored once per (carrier, event id) before anything else; one for a tracking number no
case has is stored and answered 202, one for a closed case is stored and ignored, a duplicate changes
nothing. A bad signature is 401 and nothing is stored.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError
from temporalio.service import RPCError

from api.deps import Context
from api.problems import Problem
from domain.carriers import SIGNATURE_HEADER, CarrierName, CarrierScan, TrackingEvent, signature_ok
from domain.enums import CaseStatus
from domain.names import SIGNAL_CARRIER_SCAN
from store import carriers

router = APIRouter(prefix="/v1", tags=["carriers"])
log = logging.getLogger("api.carriers")
CarrierPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", examples=["sim"])]
Outcome = Literal["signalled", "pending", "unknown_tracking", "case_closed"]
E = TypeVar("E", bound=TrackingEvent)


class CarrierEventAnswer(BaseModel):
    carrier: str
    event_id: str
    outcome: Outcome
    case_id: str | None = None
    duplicate: bool = False


class CarrierEvent(TrackingEvent):
    """The event as DESIGN §13's `POST /v1/carrier-events` takes it: the carrier named in the body."""

    carrier: CarrierName


SIGNED: dict[int | str, dict[str, Any]] = {
    401: {"description": "bad or missing signature"},
    422: {"description": "invalid event"},
}


@router.post("/carrier-events", response_model=CarrierEventAnswer, status_code=202, responses=SIGNED)
async def carrier_event(ctx: Context, request: Request, response: Response) -> CarrierEventAnswer:
    """A tracking event `{"event_id", "carrier", "tracking_no", "kind": "pickup|in_transit|delivered|
    exception", "at", "note"?}` signed with the named carrier's secret: header `X-Carrier-Signature:
    sha256=<hex HMAC-SHA256 of the raw body>`. Stored once per (carrier, event id); the case with the
    tracking number hears it (the return moves on without anyone clicking). 202 when taken (also for
    an unknown tracking number or a closed case: stored, no case changes); 200 with `duplicate` for an
    event id seen before. 401 before anything is read when the carrier or the signature is wrong."""
    raw = await request.body()
    try:
        named = json.loads(raw).get("carrier")
    except (ValueError, AttributeError):
        named = None
    carrier = named if isinstance(named, str) else ""
    _verify(ctx, request, carrier, raw)
    event = _parse(CarrierEvent, raw)
    return await _take(ctx, response, carrier, TrackingEvent(**event.model_dump(exclude={"carrier"})))


@router.post(
    "/carriers/{carrier}/events", response_model=CarrierEventAnswer, status_code=202, responses=SIGNED
)
async def carrier_event_by_path(
    ctx: Context, request: Request, response: Response, carrier: CarrierPath
) -> CarrierEventAnswer:
    """The same webhook with the carrier in the path and not in the body (for carriers whose payload
    cannot name it); signed and answered the same way."""
    raw = await request.body()
    _verify(ctx, request, carrier, raw)
    return await _take(ctx, response, carrier, _parse(TrackingEvent, raw))


def _verify(ctx: Context, request: Request, carrier: str, raw: bytes) -> None:
    secret = ctx.carrier_secrets.get(carrier)
    if secret is None or not signature_ok(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        raise Problem(401, "bad or missing carrier signature", type_="/problems/bad-signature")


def _parse(model: type[E], raw: bytes) -> E:
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Problem(422, f"{field}: {first.get('msg')}", type_="/problems/validation") from err


async def _take(ctx: Context, response: Response, carrier: str, event: TrackingEvent) -> CarrierEventAnswer:
    def store() -> tuple[str, str | None, bool]:
        with ctx.sessions.begin() as session:
            case = carriers.case_of(session, event.tracking_no)
            if case is None:
                outcome = "unknown_tracking"
            elif case.status == CaseStatus.CLOSED:
                outcome = "case_closed"
            else:
                outcome = "pending"
            row, created = carriers.record_event(
                session, carrier, event, case.case_id if case else None, outcome
            )
            return row.outcome, row.case_id, created

    outcome, case_id, created = await run_in_threadpool(store)
    if not created and outcome != "pending":
        response.status_code = 200
        return CarrierEventAnswer(
            carrier=carrier, event_id=event.event_id, outcome=outcome, case_id=case_id, duplicate=True
        )
    if outcome == "pending" and case_id is not None:
        outcome = await _signal(ctx, carrier, event, case_id)

        def settle() -> None:
            with ctx.sessions.begin() as session:
                carriers.settle_event(session, carrier, event.event_id, outcome)

        await run_in_threadpool(settle)
    log.info(
        "carrier %s event %s (%s %s): %s", carrier, event.event_id, event.kind, event.tracking_no, outcome
    )
    return CarrierEventAnswer(
        carrier=carrier,
        event_id=event.event_id,
        outcome=outcome,
        case_id=case_id,
        duplicate=not created,
    )


async def _signal(ctx: Context, carrier: str, event: TrackingEvent, case_id: str) -> str:
    """Tell the case; a case whose workflow ended is closed. Temporal down: 503, the event stays
    pending and the carrier's retry of it signals again (the case ignores an event id it has seen)."""
    scan = CarrierScan(carrier=carrier, **event.model_dump())
    try:
        running = await ctx.gateway.signal_case(case_id, SIGNAL_CARRIER_SCAN, scan)
    except RPCError as err:
        raise Problem(503, "the workflow service is unavailable; send the event again") from err
    return "signalled" if running else "case_closed"
