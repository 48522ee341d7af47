"""The carrier webhook (DESIGN §13): signed tracking events move a case's parcels along.

Each event is stored once per (carrier, event id) before anything else; one for a tracking number no
case has is stored and answered 202, one for a closed case is stored and ignored, a duplicate changes
nothing. A bad signature is 401 and nothing is stored.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError
from temporalio.service import RPCError

from api.deps import Context
from api.problems import Problem
from domain.carriers import SIGNATURE_HEADER, CarrierScan, TrackingEvent, signature_ok
from domain.enums import CaseStatus
from domain.names import SIGNAL_CARRIER_SCAN
from store import carriers

router = APIRouter(prefix="/v1", tags=["carriers"])
log = logging.getLogger("api.carriers")
CarrierPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", examples=["sim"])]
Outcome = Literal["signalled", "pending", "unknown_tracking", "case_closed"]


class CarrierEventAnswer(BaseModel):
    carrier: str
    event_id: str
    outcome: Outcome
    case_id: str | None = None
    duplicate: bool = False


@router.post(
    "/carriers/{carrier}/events",
    response_model=CarrierEventAnswer,
    status_code=202,
    responses={401: {"description": "bad or missing signature"}, 422: {"description": "invalid event"}},
)
async def carrier_event(
    ctx: Context, request: Request, response: Response, carrier: CarrierPath
) -> CarrierEventAnswer:
    """A tracking event (`pickup`, `in_transit`, `delivered`, `exception`) signed with the carrier's
    secret: header `X-Carrier-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Stored once per
    event id; the case with the tracking number hears it (the return moves on without anyone
    clicking). 202 when taken (also for an unknown tracking number or a closed case: stored, no case
    changes); 200 with `duplicate` for an event id seen before."""
    raw = await request.body()
    secret = ctx.carrier_secrets.get(carrier)
    if secret is None or not signature_ok(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        raise Problem(401, "bad or missing carrier signature", type_="/problems/bad-signature")
    try:
        event = TrackingEvent.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Problem(422, f"{field}: {first.get('msg')}", type_="/problems/validation") from err

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
