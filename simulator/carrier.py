"""The simulator as a carrier (DESIGN §13): it scans parcels when asked, sending each scan as a
signed tracking event to the API's carrier webhook, and it can lose a parcel (no more scans). Claims
for lost parcels are provider operations of the ledger (`POST /v1/carrier-claims`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from domain.carriers import SIGNATURE_HEADER, CarrierName, ScanKind, sign


@dataclass
class CarrierConfig:
    """Where to send events (the API's base URL) and each carrier's webhook secret."""

    target: str
    secrets: dict[str, str]
    lost: set[str] = field(default_factory=set)


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tracking_no: str = Field(min_length=1, max_length=64)
    kind: ScanKind
    carrier: CarrierName = "sim"
    event_id: str | None = Field(default=None, max_length=100, description="default: a new one")
    at: datetime | None = None
    note: str = Field(default="", max_length=500)


class ScanSent(BaseModel):
    event_id: str
    status: int = Field(description="what the API's webhook answered")
    answer: dict[str, Any] = Field(default_factory=dict)


class Lost(BaseModel):
    tracking_no: str
    lost: bool


def carrier_router(config: CarrierConfig, problem: type[Exception]) -> APIRouter:
    router = APIRouter(tags=["carrier"])

    @router.post("/v1/carrier/scans", response_model=ScanSent)
    async def scan(body: ScanRequest) -> ScanSent:
        """Scan a parcel: the event goes to the API signed with the carrier's secret. A lost parcel
        is never scanned again (409)."""
        if body.tracking_no in config.lost:
            raise problem(
                409, f"parcel {body.tracking_no} is lost: the carrier scans it no more", "parcel-lost"
            )
        secret = config.secrets.get(body.carrier)
        if secret is None:
            raise problem(422, f"no secret for carrier {body.carrier}", "unknown-carrier")
        event = {
            "event_id": body.event_id or f"EV-{uuid.uuid4().hex[:16]}",
            "carrier": body.carrier,
            "tracking_no": body.tracking_no,
            "kind": body.kind,
            "at": (body.at or datetime.now(UTC)).isoformat(),
            "note": body.note,
        }
        raw = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)}
        url = f"{config.target.rstrip('/')}/v1/carrier-events"  # DESIGN §13: the carrier in the body
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(url, content=raw, headers=headers)
        try:
            data = answer.json()
        except ValueError:
            data = {}
        return ScanSent(event_id=event["event_id"], status=answer.status_code, answer=data)

    @router.post("/v1/carrier/parcels/{tracking_no}/lose", response_model=Lost)
    async def lose(tracking_no: str) -> Lost:
        """The carrier loses the parcel: no scan of it is ever sent again."""
        config.lost.add(tracking_no)
        return Lost(tracking_no=tracking_no, lost=True)

    return router
