"""Webhook subscriptions (admin, DESIGN §11): backend systems hear about cases at their own URL.

A subscription's secret is shown once, when it is made or rotated; deliveries are signed with it in
the Standard Webhooks format. URLs whose host resolves to a private, loopback or link-local address
are refused (422 naming `url`) unless allow-listed (AFTERSALES_WEBHOOK_ALLOW_HOSTS / _CIDRS); the
relay checks the address again on every connection."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.auth import Admin
from api.deps import AppContext, Context
from api.problems import Problem
from core.webhook_net import url_refusal
from domain.audit import EventKind
from domain.webhooks import TargetPolicy
from store import feed, webhooks
from store.models import WebhookAttemptRow, WebhookSubscriptionRow

router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"])
audit_log = logging.getLogger("audit.webhooks")
SubscriptionId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{16}$", examples=["wh_0123456789abcdef"])]
Url = Annotated[
    str, Field(min_length=8, max_length=2000, examples=["https://erp.example.com/hooks/aftersales"])
]
Cursor = Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_kinds: list[EventKind] = Field(default_factory=list, description="empty: every kind")
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_kinds: list[EventKind] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class Change(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class Subscription(BaseModel):
    id: str
    url: str
    description: str
    event_kinds: list[str]
    enabled: bool
    disabled_reason: str | None
    cursor: str = Field(description="the feed position up to which deliveries are queued")
    previous_secret_signs_until: datetime | None = Field(
        description="during a rotation's overlap the previous secret signs too, until then"
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionDetail(Subscription):
    pending: int = Field(description="deliveries waiting to be sent")
    changes: list[Change] = Field(description="its audit, newest first")


class SubscriptionCreated(Subscription):
    secret: str = Field(description="the signing secret (whsec_…): shown this once only")


class SubscriptionList(BaseModel):
    items: list[Subscription]


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: float | None = Field(
        default=None, ge=0, le=30 * 86_400, description="default AFTERSALES_WEBHOOK_ROTATION_OVERLAP_SECONDS"
    )


class Rotated(BaseModel):
    id: str
    secret: str = Field(description="the new signing secret: shown this once only")
    previous_secret_signs_until: datetime


class Attempt(BaseModel):
    at: datetime
    webhook_id: str
    case_id: str
    attempt: int
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str | None
    cursor: str = Field(
        description="the feed cursor just before the event: `redeliver?from=` it to send it again"
    )


class AttemptList(BaseModel):
    attempts: list[Attempt]
    next_cursor: str | None


class Redelivery(BaseModel):
    id: str
    from_cursor: str | None = Field(description="events after this feed position are sent again")


def _view(row: WebhookSubscriptionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "description": row.description,
        "event_kinds": list(row.event_kinds or []),
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "cursor": feed.encode_position((row.cursor_txid, row.cursor_id)),
        "previous_secret_signs_until": row.previous_until,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _now() -> datetime:
    return datetime.now(UTC)


async def _check_url(ctx: AppContext, url: str) -> None:
    """422 naming `url` when the service may not call it (its form, or where its host resolves)."""
    policy = TargetPolicy.parse(ctx.settings.webhook_allow_hosts, ctx.settings.webhook_allow_cidrs)
    problem = await run_in_threadpool(url_refusal, policy, url)
    if problem is not None:
        raise Problem(
            422,
            f"url: {problem}",
            type_="/problems/validation",
            errors=[{"field": "url", "message": problem, "type": "webhook_target"}],
        )


def _found(session: Session, subscription_id: str) -> WebhookSubscriptionRow:
    row = webhooks.get_subscription(session, subscription_id)
    if row is None:
        raise Problem(404, f"no webhook subscription {subscription_id}")
    return row


@router.post("", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    ctx: Context, who: Admin, body: Annotated[SubscriptionIn, Body()]
) -> dict[str, Any]:
    """A new subscription; it hears the events recorded from now on. The secret is in this answer only."""
    await _check_url(ctx, body.url)

    def create() -> dict[str, Any]:
        with ctx.sessions.begin() as session:
            row, secret = webhooks.create_subscription(
                session,
                url=body.url,
                event_kinds=[str(k) for k in body.event_kinds],
                description=body.description,
                enabled=body.enabled,
                actor=who.actor,
                now=_now(),
            )
            return {**_view(row), "secret": secret}

    created = await run_in_threadpool(create)
    audit_log.info("webhook subscription %s created by %s", created["id"], who.actor)
    return created


@router.get("", response_model=SubscriptionList)
async def list_subscriptions(ctx: Context, who: Admin) -> dict[str, Any]:
    def read() -> list[dict[str, Any]]:
        with ctx.reads() as session:
            return [_view(row) for row in webhooks.list_subscriptions(session)]

    return {"items": await run_in_threadpool(read)}


@router.get("/{subscription_id}", response_model=SubscriptionDetail)
async def get_subscription(ctx: Context, who: Admin, subscription_id: SubscriptionId) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with ctx.reads() as session:
            row = _found(session, subscription_id)
            changes = [
                {"at": c.at, "actor": c.actor, "action": c.action, "detail": c.detail}
                for c in webhooks.changes_of(session, subscription_id)
            ]
            return {**_view(row), "pending": webhooks.pending_count(session, row.id), "changes": changes}

    return await run_in_threadpool(read)


@router.patch("/{subscription_id}", response_model=Subscription)
async def update_subscription(
    ctx: Context, who: Admin, subscription_id: SubscriptionId, body: Annotated[SubscriptionPatch, Body()]
) -> dict[str, Any]:
    """Change the URL, kinds, description, or enable it again (a disabled one resumes where it stopped)."""
    changes: dict[str, Any] = {
        k: getattr(body, k) for k in body.model_fields_set if getattr(body, k) is not None
    }
    if "event_kinds" in changes:
        changes["event_kinds"] = [str(k) for k in changes["event_kinds"]]
    if "url" in changes:
        await _check_url(ctx, changes["url"])

    def write() -> dict[str, Any]:
        with ctx.sessions.begin() as session:
            row = _found(session, subscription_id)
            webhooks.update_subscription(session, row, changes, who.actor, _now())
            return _view(row)

    return await run_in_threadpool(write)


@router.delete("/{subscription_id}", status_code=204)
async def delete_subscription(ctx: Context, who: Admin, subscription_id: SubscriptionId) -> Response:
    def write() -> None:
        with ctx.sessions.begin() as session:
            webhooks.delete_subscription(session, _found(session, subscription_id), who.actor, _now())

    await run_in_threadpool(write)
    audit_log.info("webhook subscription %s deleted by %s", subscription_id, who.actor)
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", response_model=Rotated)
async def rotate_secret(
    ctx: Context, who: Admin, subscription_id: SubscriptionId, body: Annotated[Rotation | None, Body()] = None
) -> dict[str, Any]:
    """A new secret, shown once; the previous one keeps signing beside it for the overlap (receivers
    accept either meanwhile, then drop the old one)."""
    seconds = body.overlap_seconds if body and body.overlap_seconds is not None else None
    overlap = timedelta(seconds=ctx.settings.webhook_rotation_overlap_seconds if seconds is None else seconds)

    def write() -> dict[str, Any]:
        with ctx.sessions.begin() as session:
            row = _found(session, subscription_id)
            secret = webhooks.rotate_secret(session, row, overlap, who.actor, _now())
            return {"id": row.id, "secret": secret, "previous_secret_signs_until": row.previous_until}

    rotated = await run_in_threadpool(write)
    audit_log.info("webhook subscription %s secret rotated by %s", subscription_id, who.actor)
    return rotated


@router.get("/{subscription_id}/attempts", response_model=AttemptList)
async def list_attempts(
    ctx: Context,
    who: Admin,
    subscription_id: SubscriptionId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every delivery attempt, newest first: status, latency, an excerpt of the answer, the error."""

    def read() -> tuple[list[WebhookAttemptRow], str | None]:
        with ctx.reads() as session:
            _found(session, subscription_id)
            return webhooks.attempts_page(session, subscription_id, limit, cursor)

    try:
        rows, next_cursor = await run_in_threadpool(read)
    except ValueError as err:
        raise Problem(422, f"cursor: {err}") from err
    attempts = [
        {
            "at": r.at,
            "webhook_id": r.webhook_id,
            "case_id": r.case_id,
            "attempt": r.attempt,
            "status_code": r.status_code,
            "latency_ms": r.latency_ms,
            "response_excerpt": r.response_excerpt,
            "error": r.error,
            "cursor": r.cursor,
        }
        for r in rows
    ]
    return {"attempts": attempts, "next_cursor": next_cursor}


@router.post("/{subscription_id}/redeliver", status_code=202, response_model=Redelivery)
async def redeliver(
    ctx: Context,
    who: Admin,
    subscription_id: SubscriptionId,
    from_cursor: Annotated[
        str | None,
        Query(alias="from", max_length=200, pattern=r"^[A-Za-z0-9_-]+$", description="a feed cursor"),
    ] = None,
) -> dict[str, Any]:
    """Send again every matching event after a feed cursor (an event's `cursor` in the feed or in an
    attempt: pass the one before the first event to resend; omitted: from the feed's start)."""
    try:
        position = feed.decode_position(from_cursor)
    except ValueError as err:
        raise Problem(422, f"from: {err}") from err

    def write() -> None:
        with ctx.sessions.begin() as session:
            webhooks.redeliver_from(session, _found(session, subscription_id), position, who.actor, _now())

    await run_in_threadpool(write)
    audit_log.info(
        "webhook subscription %s redelivery from %s by %s", subscription_id, from_cursor, who.actor
    )
    return {"id": subscription_id, "from_cursor": from_cursor}
