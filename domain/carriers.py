"""Carrier tracking events (DESIGN §13): what a carrier's webhook tells, and how it is signed. Pure."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from domain.modelbase import DomainModel

ScanKind = Literal["pickup", "in_transit", "delivered", "exception"]
CarrierName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
SIGNATURE_HEADER = "X-Carrier-Signature"
CARRIER_ACTOR_PREFIX = "carrier:"


class TrackingEvent(DomainModel):
    """One tracking event as the carrier sends it; `event_id` is unique per carrier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    tracking_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    kind: ScanKind
    at: AwareDatetime
    note: str = Field(default="", max_length=500)


class CarrierScan(DomainModel):
    """What the API signals to a case: the event and the carrier that sent it."""

    carrier: str
    event_id: str
    tracking_no: str
    kind: ScanKind
    at: AwareDatetime
    note: str = ""

    @property
    def actor(self) -> str:
        return f"{CARRIER_ACTOR_PREFIX}{self.carrier}"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip())


def is_carrier(actor: str) -> bool:
    return actor.startswith(CARRIER_ACTOR_PREFIX)
