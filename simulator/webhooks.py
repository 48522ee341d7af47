"""The simulator as a webhook receiver: it verifies Standard Webhooks signatures with the secrets an
inbox is configured with, records every arrival (in order, with its validity and the answer given)
and fails or slows a share of them, chosen by a seeded hash of webhook-id and attempt, so a run is
reproducible and a retry of a failed webhook rolls anew.

    PUT  /v1/admin/webhook-inboxes/{inbox}   {"secrets": ["whsec_…"]}   make or reconfigure an inbox
    POST /v1/webhooks/{inbox}                                            a webhook arrives
    GET  /v1/webhooks/{inbox}/received                                   what arrived, oldest first

Faults come from the simulator's fault config (`PUT /v1/admin/faults`): `webhook_error_rate` of the
arrivals are answered 500, `webhook_slow_rate` answered after `webhook_slow_ms`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Inbox = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class InboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secrets: list[str] = Field(min_length=1, max_length=4, description="whsec_… secrets; any one verifies")


class Arrival(BaseModel):
    webhook_id: str
    attempt: int = Field(description="how many times this webhook-id arrived in this inbox so far")
    received_at: float = Field(description="unix time")
    valid: bool = Field(description="the signature verified with one of the inbox's secrets")
    status: int = Field(description="what the simulator answered")
    case_id: str | None = None
    seq: int | None = None
    kind: str | None = None
    cursor: str | None = None


class Arrivals(BaseModel):
    received: list[Arrival]


def roll(seed: int | None, webhook_id: str, attempt: int, what: str) -> float:
    """A number in [0, 1) fixed by the seed, the webhook and its attempt: the fault dice."""
    digest = hashlib.sha256(f"{seed}|{what}|{webhook_id}|{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class WebhookInboxes:
    """Inboxes in memory: their secrets and what arrived (the tests read it back)."""

    def __init__(self) -> None:
        self.secrets: dict[str, list[Webhook]] = {}
        self.arrivals: dict[str, list[Arrival]] = {}
        self.seen: dict[str, Counter[str]] = {}

    def configure(self, inbox: str, secrets: list[str]) -> None:
        self.secrets[inbox] = [Webhook(secret) for secret in secrets]
        self.arrivals.setdefault(inbox, [])
        self.seen.setdefault(inbox, Counter())

    def verify(self, inbox: str, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        for hook in self.secrets.get(inbox, []):
            try:
                document = hook.verify(body, headers)
            except WebhookVerificationError:
                continue
            return document if isinstance(document, dict) else {}
        return None


def build_router(inboxes: WebhookInboxes, faults: Callable[[], Any]) -> APIRouter:
    """The receiver's routes; `faults()` gives the current fault config (webhook_* fields)."""
    router = APIRouter(tags=["webhooks"])

    @router.put("/v1/admin/webhook-inboxes/{inbox}", status_code=204)
    async def configure(inbox: Inbox, config: InboxConfig) -> Response:
        inboxes.configure(inbox, config.secrets)
        return Response(status_code=204)

    @router.post("/v1/webhooks/{inbox}")
    async def receive(inbox: Inbox, request: Request) -> Response:
        if inbox not in inboxes.secrets:
            return Response(status_code=404)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = headers.get("webhook-id", "")
        inboxes.seen[inbox][webhook_id] += 1
        attempt = inboxes.seen[inbox][webhook_id]
        document = inboxes.verify(inbox, body, headers)
        config = faults()
        status = 200 if document is not None else 401
        if status == 200 and roll(config.seed, webhook_id, attempt, "error") < config.webhook_error_rate:
            status = 500
        elif status == 200 and roll(config.seed, webhook_id, attempt, "slow") < config.webhook_slow_rate:
            await asyncio.sleep(config.webhook_slow_ms / 1000)
        data = (document or {}).get("data") or {}
        inboxes.arrivals[inbox].append(
            Arrival(
                webhook_id=webhook_id,
                attempt=attempt,
                received_at=time.time(),
                valid=document is not None,
                status=status,
                case_id=data.get("case_id"),
                seq=data.get("seq"),
                kind=data.get("kind"),
                cursor=data.get("cursor"),
            )
        )
        return Response(status_code=status, content=b"ok" if status == 200 else b"injected failure")

    @router.get("/v1/webhooks/{inbox}/received", response_model=Arrivals)
    async def received(inbox: Inbox) -> dict[str, Any]:
        return {"received": inboxes.arrivals.get(inbox, [])}

    return router
