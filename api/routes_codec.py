"""Codec server for the Temporal Web UI and CLI: decodes for ops, masks personal data unless the caller
may see it, and records every decode in the case store.

Protocol: POST /codec/decode and /codec/encode with `{"payloads": [{"metadata": {k: b64}, "data": b64}]}`
(the Temporal remote codec format). The UI calls it from the browser, hence CORS for its origin.

Credentials, never in a URL: `Authorization: Bearer <API key>` (the `temporal` CLI sends it from
TEMPORAL_CODEC_AUTH), or the codec session cookie the UI sends with "include cross-origin credentials":
an ops, supervisor or dispute key signs in once at GET /codec/sign-in; the cookie is HttpOnly,
SameSite=Strict, Path=/codec, and the session it names can only encode and decode.
"""

from __future__ import annotations

import base64
import html
import logging
from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.auth import (
    CHALLENGE,
    CODEC_COOKIE,
    CODEC_ROLES,
    CodecUser,
    Identity,
    bearer,
    bearer_token,
    identity_of_key,
)
from api.codec_view import show, workflow_ids
from api.deps import AppContext, Context
from api.problems import Problem
from core.codec import EncryptionCodec, MissingKeyError
from core.settings import Settings
from store import codec_access

audit = logging.getLogger("audit.codec")
FORM = "application/x-www-form-urlencoded"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
}


class WirePayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class WirePayloads(BaseModel):
    payloads: list[WirePayload] = Field(default_factory=list, max_length=1000)  # proto JSON omits empty lists


class CodecSession(BaseModel):
    actor: str
    decode_personal: bool = Field(description="decoded payloads show personal data in full (else masked)")
    expires_at: str


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


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}"
        "input{font:inherit;width:100%;margin:.5rem 0}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=PAGE_HEADERS)


SIGN_IN_FORM = """
<p>Sign in with an API key of role ops, supervisor or dispute. The Temporal UI then decodes payloads
through this server with a session cookie; the key itself is not kept in the browser.</p>
<form method="post" action="/codec/session">
  <label>API key <input type="password" name="api_key" autocomplete="off" required autofocus></label>
  <button type="submit">Sign in to the codec</button>
</form>
<form method="post" action="/codec/sign-out"><button type="submit">Sign out</button></form>
<p>In the Temporal UI, open the codec (data encoder) settings and turn on
<b>Include cross-origin credentials</b>. Personal data is shown masked unless the key was created with
<code>aftersales keys create --role ops --decode-personal</code>.</p>
"""


async def _key_from(request: Request, credentials: HTTPAuthorizationCredentials | None) -> tuple[str, bool]:
    """(API key, from a form?) of a sign-in: the Authorization header, else the form field api_key."""
    token = bearer_token(credentials)
    if token is not None:
        return token, False
    if request.headers.get("content-type", "").startswith(FORM):
        fields = parse_qs((await request.body()).decode(errors="replace"))
        token = (fields.get("api_key") or [""])[0].strip()[:200]
        if token:
            return token, True
    raise Problem(
        401, "give an API key in the Authorization header or the form field api_key", headers=CHALLENGE
    )


def build_router(codec: EncryptionCodec, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/codec", tags=["codec"])
    lifetime = timedelta(seconds=settings.codec_session_seconds)

    def set_cookie(response: Response, token: str) -> None:
        response.set_cookie(
            CODEC_COOKIE, token, max_age=settings.codec_session_seconds, path="/codec",
            httponly=True, samesite="strict", secure=settings.codec_cookie_secure,
        )  # fmt: skip

    @router.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_page() -> HTMLResponse:
        """A form that signs in to the codec with an API key (for the Temporal UI)."""
        return _page("Codec sign-in", SIGN_IN_FORM)

    @router.post("/session", response_model=CodecSession, responses={401: {}, 403: {}})
    async def sign_in(
        request: Request,
        ctx: Context,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Response:
        """Exchange an API key (ops, supervisor, dispute; in the Authorization header or the form field
        `api_key`, never the URL) for a codec session cookie that can only encode and decode."""
        key, from_form = await _key_from(request, credentials)
        who = await identity_of_key(ctx, key, cached=False)  # a key revoked a moment ago signs in no more
        if who is None:
            raise Problem(401, "unknown or revoked API key", headers=CHALLENGE)
        if who.role not in CODEC_ROLES:
            allowed = ", ".join(sorted(r.value for r in CODEC_ROLES))
            raise Problem(403, f"role {who.role} may not use the codec; allowed: {allowed}")

        def start() -> tuple[str, str]:
            with ctx.sessions.begin() as session:
                token, row = codec_access.create_codec_session(session, who.key_id, lifetime)
                return token, row.expires_at.isoformat(timespec="seconds")

        token, expires = await run_in_threadpool(start)
        audit.info("codec sign-in by %s until %s", who.actor, expires)
        state = CodecSession(actor=who.actor, decode_personal=who.decodes_personal_data, expires_at=expires)
        response: Response
        if from_form:
            shown = "in full" if state.decode_personal else "masked"
            response = _page(
                "Signed in to the codec",
                f"<p>Signed in as <code>{html.escape(state.actor)}</code> until {html.escape(expires)}; "
                f"personal data is shown {shown}.</p><p>Now open the Temporal UI: in its codec settings "
                "turn on <b>Include cross-origin credentials</b>.</p>"
                '<form method="post" action="/codec/sign-out"><button type="submit">Sign out</button></form>',
            )
        else:
            response = JSONResponse(state.model_dump(), headers={"Cache-Control": "no-store"})
        set_cookie(response, token)
        return response

    @router.post("/sign-out", status_code=200)
    async def sign_out(request: Request, ctx: Context) -> Response:
        """End the codec session of this browser and clear its cookie."""
        cookie = request.cookies.get(CODEC_COOKIE, "")[:200]

        def end() -> bool:
            with ctx.sessions.begin() as session:
                return codec_access.end_codec_session(session, cookie)

        ended = bool(cookie) and await run_in_threadpool(end)
        response: Response
        if request.headers.get("content-type", "").startswith(FORM):
            response = _page("Signed out of the codec", '<p><a href="/codec/sign-in">Sign in again</a></p>')
        else:
            response = JSONResponse({"signed_out": ended}, headers={"Cache-Control": "no-store"})
        response.delete_cookie(
            CODEC_COOKIE, path="/codec", httponly=True, samesite="strict", secure=settings.codec_cookie_secure
        )
        return response

    @router.post("/decode", response_model=WirePayloads)
    async def decode(
        body: WirePayloads,
        who: CodecUser,
        ctx: Context,
        namespace: Annotated[str | None, Header(alias="X-Namespace", max_length=100)] = None,
    ) -> WirePayloads:
        """Decrypt payloads for display. Personal data is masked unless the caller's key has the
        `decode_personal` permission. Every decode is recorded in the case store (codec_decodes)."""
        encoded = [_to_payload(p) for p in body.payloads]
        try:
            decoded = await codec.decode(encoded)
        except MissingKeyError as err:
            raise Problem(422, str(err)) from err
        except Exception as err:  # a tampered or foreign payload
            raise Problem(422, f"payload could not be decrypted: {type(err).__name__}") from err
        view = show(decoded, reveal=who.decodes_personal_data)
        workflows = workflow_ids(encoded, decoded)
        revealed = who.decodes_personal_data and view.personal_fields > 0
        await run_in_threadpool(_record, ctx, who, namespace, workflows, len(decoded), revealed)
        audit.info(
            "codec decode by %s via %s: %d payload(s), workflows %s, namespace %s, personal data %s",
            who.actor, who.via, len(decoded), ",".join(workflows) or "-", namespace or "-",
            "shown" if revealed else ("masked" if view.personal_fields else "none"),
        )  # fmt: skip
        return WirePayloads(payloads=[_to_wire(p) for p in view.payloads])

    @router.post("/encode", response_model=WirePayloads)
    async def encode(body: WirePayloads, who: CodecUser) -> WirePayloads:
        """Encrypt payloads (the UI uses it when ops send a signal with a typed payload)."""
        encoded = await codec.encode([_to_payload(p) for p in body.payloads])
        audit.info("codec encode by %s via %s: %d payload(s)", who.actor, who.via, len(encoded))
        return WirePayloads(payloads=[_to_wire(p) for p in encoded])

    return router


def _record(
    ctx: AppContext, who: Identity, namespace: str | None, workflows: list[str], payloads: int, revealed: bool
) -> None:
    """In the request: a decode whose record cannot be written is not answered."""
    with ctx.sessions.begin() as session:
        codec_access.record_codec_decode(
            session, actor=who.actor, key_id=who.key_id, via=who.via, namespace=namespace,
            workflow_ids=workflows, payloads=payloads, personal_revealed=revealed,
        )  # fmt: skip
