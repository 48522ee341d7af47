"""Codec server for the Temporal Web UI: authorised ops see decoded payloads; every decode is audited.

Protocol: POST /codec/decode and /codec/encode with `{"payloads": [{"metadata": {k: b64}, "data": b64}]}`
(the Temporal remote codec format). The UI calls it from the browser, hence CORS for its origin.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.auth import CODEC_ROLES, Identity, require
from api.problems import Problem
from core.codec import EncryptionCodec, MissingKeyError

audit = logging.getLogger("audit.codec")
Decoder = Annotated[Identity, Depends(require(CODEC_ROLES))]


class WirePayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class WirePayloads(BaseModel):
    payloads: list[WirePayload] = Field(default_factory=list, max_length=1000)  # proto JSON omits empty lists


def _to_payload(wire: WirePayload) -> Payload:
    try:
        return Payload(
            metadata={k: base64.b64decode(v) for k, v in wire.metadata.items()},
            data=base64.b64decode(wire.data),
        )
    except ValueError as err:
        raise Problem(422, f"payload is not valid base64: {err}") from err


def _to_wire(payload: Payload) -> WirePayload:
    return WirePayload(
        metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        data=base64.b64encode(payload.data).decode(),
    )


def build_router(codec: EncryptionCodec) -> APIRouter:
    router = APIRouter(prefix="/codec", tags=["codec"])

    @router.post("/decode", response_model=WirePayloads)
    async def decode(
        body: WirePayloads, who: Decoder, namespace: Annotated[str | None, Header(alias="X-Namespace")] = None
    ) -> WirePayloads:
        """Decrypt payloads for display; the caller and the count are written to the audit log."""
        try:
            decoded = await codec.decode([_to_payload(p) for p in body.payloads])
        except MissingKeyError as err:
            raise Problem(422, str(err)) from err
        except Exception as err:  # a tampered or foreign payload
            raise Problem(422, f"payload could not be decrypted: {type(err).__name__}") from err
        audit.info(
            "codec decode by %s: %d payload(s), namespace %s", who.actor, len(decoded), namespace or "-"
        )
        return WirePayloads(payloads=[_to_wire(p) for p in decoded])

    @router.post("/encode", response_model=WirePayloads)
    async def encode(body: WirePayloads, who: Decoder) -> WirePayloads:
        """Encrypt payloads (the UI uses it when ops send a signal with a typed payload)."""
        encoded = await codec.encode([_to_payload(p) for p in body.payloads])
        audit.info("codec encode by %s: %d payload(s)", who.actor, len(encoded))
        return WirePayloads(payloads=[_to_wire(p) for p in encoded])

    # Same handlers under /codec/k/<key>: for the Temporal UI, which sends no Authorization header.
    router.add_api_route("/k/{key_in_path}/decode", decode, methods=["POST"], response_model=WirePayloads)
    router.add_api_route("/k/{key_in_path}/encode", encode, methods=["POST"], response_model=WirePayloads)
    return router
