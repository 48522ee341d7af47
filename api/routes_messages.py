"""A case's conversation (DESIGN §9): `POST /v1/cases/{id}/messages` and `GET …/messages`.

Who writes decides the thread: the shop front's `system` key relays the customer (visibility
`customer`), a merchant key writes in the merchant thread, the platform (agent, supervisor, dispute
team) writes to the customer, to the merchant, or an internal note. The platform's messages to the
customer or the merchant leave through the messaging provider on the contact's channel (via the
outbox, in the store transaction) and keep their delivery status. A customer message starts its
first-response clock (a workflow); the platform's next message to the customer stops it. Readers
see only their threads: an internal message never reaches a merchant or a customer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from activities.contracts import ReplyClockInput
from api.auth import Identity, Reader, require
from api.deps import Context
from api.problems import Problem
from api.routes_cases import CaseId, _owned
from api.temporal_gateway import signal_replied, start_reply_clock
from domain.conversation import (
    POSTING_ROLES,
    Party,
    Visibility,
    customer_channel,
    is_outbound,
    is_reply_to_customer,
    party_of,
    reader_sees,
    visibility_problem,
)
from domain.enums import Actor, CaseStatus
from domain.models import Evidence
from store import cases, messages, personal
from store.listing import decode_cursor, encode_cursor
from store.models import CaseRow

router = APIRouter(prefix="/v1", tags=["conversation"])
Poster = Annotated[Identity, Depends(require(POSTING_ROLES))]
MAX_TEXT_CHARS = 4000


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not bounded here: a text over the limit is answered 413 (too large), not 422.
    text: str = Field(min_length=1, description=f"at most {MAX_TEXT_CHARS} characters (else 413)")
    visibility: Visibility
    attachments: list[Evidence] = Field(
        default_factory=list, max_length=20, description="evidence references"
    )


class MessageView(BaseModel):
    message_id: str
    at: datetime
    author: str
    author_party: Party
    visibility: Visibility
    text: str
    attachments: list[Evidence]
    channel: str | None = None
    delivery_status: str | None = Field(default=None, description="queued, sent or failed (outbound only)")
    # The platform's figures of a customer message (platform readers only).
    reply_due_at: datetime | None = None
    replied_at: datetime | None = None
    first_response_seconds: int | None = None
    first_response_breached: bool | None = None
    counts_on: str | None = None
    night: bool | None = None
    night_violation: bool | None = None


class MessageList(BaseModel):
    case_id: str
    items: list[MessageView]
    next_cursor: str | None = None


def view_of(shown: messages.Shown, platform: bool) -> MessageView:
    row = shown.row
    view = MessageView(
        message_id=row.message_id,
        at=row.at,
        author=row.author if platform else row.author_party,  # people's ids stay inside the platform
        author_party=Party(row.author_party),
        visibility=Visibility(row.visibility),
        text=shown.text,
        attachments=[Evidence.model_validate(a) for a in row.attachments],
        channel=row.channel if platform else None,
        delivery_status=row.delivery_status if platform else None,
    )
    if platform and row.author_party == Party.CUSTOMER.value:
        view = view.model_copy(
            update={
                "reply_due_at": row.reply_due_at,
                "replied_at": row.replied_at,
                "first_response_seconds": row.first_response_seconds,
                "first_response_breached": row.frt_breached_at is not None,
                "counts_on": row.counts_on.isoformat() if row.counts_on else None,
                "night": row.night,
                "night_violation": row.night_violation_at is not None,
            }
        )
    return view


@router.post("/cases/{case_id}/messages", response_model=MessageView, status_code=201)
async def post_message(ctx: Context, who: Poster, case_id: CaseId, body: NewMessage) -> MessageView:
    """Add a message to the case's thread (see the module's rules); 413 over the size limit, 409 on
    a closed case, 422 for a thread the caller may not write in."""
    if len(body.text) > MAX_TEXT_CHARS:
        raise Problem(413, f"a message is at most {MAX_TEXT_CHARS} characters; this one has {len(body.text)}")
    await _owned(ctx, who, case_id)  # 404 for an unknown case or another merchant's
    party = party_of(who.role)
    problem = visibility_problem(party, body.visibility)
    if problem is not None:
        raise Problem(422, problem, type_="/problems/validation")
    now = datetime.now(UTC)
    attachments = [a.model_dump(mode="json") for a in body.attachments]

    def write() -> tuple[MessageView | None, list[str]]:
        with ctx.sessions.begin() as session:
            row = cases.get_case(session, case_id, lock=True)
            if row is None or row.status == CaseStatus.CLOSED:
                return None, []
            channel = None
            if is_outbound(party, body.visibility):
                channel = _channel(session, row) if body.visibility == Visibility.CUSTOMER else "push"
            stored = messages.add_message(
                session, case_id, who.actor, party, body.visibility, body.text, attachments, channel, now
            )
            answered = (
                messages.mark_replied(session, case_id, now)
                if is_reply_to_customer(party, body.visibility)
                else []
            )
            return view_of(messages.Shown(stored, body.text), platform=True), answered

    view, answered = await run_in_threadpool(write)
    if view is None:
        raise Problem(409, f"case {case_id} is closed: it takes no messages", type_="/problems/case-closed")
    if party == Party.CUSTOMER:
        await _start_clock(ctx, case_id, view)
    if answered:
        await signal_replied(ctx.gateway, answered, now)
    ctx.metrics.messages.labels(party.value, body.visibility.value).inc()
    return view if party == Party.PLATFORM else view.model_copy(update={"author": party.value})


def _channel(session: Session, row: CaseRow) -> str:
    contact = personal.open_request(session, row).get("contact") or {}
    return customer_channel(contact.get("phone"), contact.get("email"), contact.get("channel")).value


async def _start_clock(ctx: Context, case_id: str, view: MessageView) -> None:
    """The customer message waits on the platform: its reply clock starts, or the message is undone."""
    policy = ctx.policy
    limit = timedelta(minutes=policy.first_response_minutes) / policy.time_scale
    inp = ReplyClockInput(
        case_id=case_id, message_id=view.message_id, received_at=view.at, limit_seconds=limit.total_seconds()
    )
    try:
        await start_reply_clock(ctx.gateway, inp)
    except Problem:

        def undo() -> None:
            with ctx.sessions.begin() as session:
                messages.forget_message(session, view.message_id)

        await run_in_threadpool(undo)
        raise


@router.get("/cases/{case_id}/messages", response_model=MessageList)
async def list_messages(
    ctx: Context,
    who: Reader,
    case_id: CaseId,
    response: Response,
    after: Annotated[str | None, Query(max_length=100, description="next_cursor of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessageList:
    """The case's messages, oldest first, in the threads the caller may read: a merchant its own,
    the shop front the customer's, the platform and ops all (internal notes included)."""
    await _owned(ctx, who, case_id)
    visible = {v.value for v in Visibility if reader_sees(who.role, v)}
    platform = who.role not in (Actor.MERCHANT, Actor.SYSTEM)
    cursor = _cursor(after)

    def read() -> list[messages.Shown]:
        with ctx.reads() as session:
            return messages.list_messages(session, case_id, visible, cursor, limit + 1)

    shown = await run_in_threadpool(read)
    page, more = shown[:limit], len(shown) > limit
    items = [view_of(s, platform) for s in page]
    last = page[-1].row if page else None
    next_cursor = encode_cursor(last.at, last.message_id) if more and last is not None else None
    response.headers["Cache-Control"] = "no-store"
    return MessageList(case_id=case_id, items=items, next_cursor=next_cursor)


def _cursor(after: str | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    try:
        return decode_cursor(after)
    except ValueError:
        raise Problem(422, "after: not a cursor this endpoint gave", type_="/problems/validation") from None
