"""The console's request plumbing: who is signed in (the session cookie), the language, the CSRF
check, form bodies, and pages rendered with the security headers every console response carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth import VIA_CONSOLE, Identity
from api.console import inproc
from api.console.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator
from api.deps import AppContext
from core.settings import Settings
from store import console_sessions

SESSION_COOKIE = "aftersales_console"
LANG_COOKIE = "aftersales_lang"
CSRF_FIELD, CSRF_HEADER = "csrf", "x-csrf-token"
HERE = Path(__file__).resolve().parent
ASSET_VERSION = "2"
MAX_FORM_BYTES = 64 * 1024

# Scripts and styles come from the console's own files only (no inline code, no CDN); never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Visitor:
    """The person signed in to this browser: their key's identity and the session's token."""

    identity: Identity
    token: str

    @property
    def csrf(self) -> str:
        return console_sessions.csrf_token(self.token)


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def translator(request: Request) -> Translator:
    return Translator(language(request))


async def visitor(request: Request, touch: bool = True) -> Visitor | None:
    """The live session of this browser, or None (no cookie, ended, idle too long, key revoked).
    `touch=False` for what a page asks by itself (the case page's poll): it does not keep a session
    alive, so an open page left alone still signs out after the idle time."""
    token = request.cookies.get(SESSION_COOKIE, "")[:200]
    if not token:
        return None
    ctx = context(request)
    idle = timedelta(seconds=ctx.settings.console_idle_seconds)
    longest = timedelta(seconds=ctx.settings.console_session_max_seconds)

    def find() -> Identity | None:
        with ctx.sessions.begin() as session:
            key = console_sessions.find_console_session(session, token, idle, longest, touch=touch)
            return Identity.of_key(key, via=VIA_CONSOLE) if key is not None else None

    identity = await run_in_threadpool(find)
    return Visitor(identity, token) if identity is not None else None


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (the last value of each field), at most MAX_FORM_BYTES."""
    raw = (await request.body())[:MAX_FORM_BYTES]
    return {
        k: v[-1].strip() for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()
    }


def csrf_ok(request: Request, who: Visitor, form: dict[str, str]) -> bool:
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    return bool(given) and console_sessions.csrf_matches(who.token, given)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, template: str, who: Visitor | None, status: int = 200, **values: Any
) -> HTMLResponse:
    t = translator(request)
    html = templates.get_template(template).render(
        t=t, lang=t.lang, who=who, path=request.url.path, asset_version=ASSET_VERSION, **values
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def sign_in_redirect(request: Request, reason: str = "") -> Response:
    """To the sign-in page; an htmx request is told to navigate there (HX-Redirect)."""
    target = "/console/sign-in" + (f"?m={reason}" if reason else "")
    if is_htmx(request):
        return Response(status_code=200, headers={**SECURITY_HEADERS, "HX-Redirect": target})
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def set_cookie(response: Response, settings: Settings, name: str, value: str, http_only: bool = True) -> None:
    max_age = settings.console_session_max_seconds if name == SESSION_COOKIE else 365 * 86400
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=http_only,
        samesite="strict",
        secure=settings.console_cookie_secure,
    )


async def api(
    request: Request,
    who: Visitor,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
) -> inproc.Answer:
    """The API's own route, in-process, as the signed-in person (same role checks and validation)."""
    return await inproc.call(request.app, who.identity, method, path, params=params, body=body)
