"""Bearer API keys → an identity with one role; each endpoint names the roles it allows.

Keys are stored hashed (sha256); a merchant key is scoped to one merchant id, and a merchant
asking for another merchant's case gets 404, as if it did not exist (OWASP API1: BOLA).
A key travels only in the Authorization header, never in a URL (URLs end up in access logs).
The codec endpoints also take a codec session cookie (`api/routes_codec.py`), and nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import AppContext, Context
from api.problems import Problem
from domain.enums import Action, Actor
from store import codec_access, keys
from store.models import ApiKeyRow

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer ask_…`")
ROLES = (Actor.SYSTEM, Actor.AGENT, Actor.SUPERVISOR, Actor.MANAGER, Actor.DISPUTE, Actor.MERCHANT, Actor.OPS)
READERS = frozenset(ROLES)
S, A, SUP, D, M = Actor.SYSTEM, Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE, Actor.MERCHANT
MGR = Actor.MANAGER

# Who may take each action. `system` relays what customers do in the shop front.
ACTION_ROLES: dict[Action, frozenset[Actor]] = {
    Action.CUSTOMER_INFO: frozenset({S, A}),
    Action.MERCHANT_RESPONSE: frozenset({M, A}),
    Action.PROPOSAL: frozenset({A}),
    # The case's approval tier decides which of the two (a manager may approve any tier); a colleague
    # approves for an away approver by delegation (api/routes_cases.py).
    Action.APPROVAL: frozenset({SUP, MGR, A}),
    Action.CUSTOMER_DECISION: frozenset({S, A}),
    Action.RETURN_SHIPMENT: frozenset({S, A}),
    Action.RETURN_DELIVERED: frozenset({S, M, A}),
    Action.INSPECTION: frozenset({M, A}),
    Action.REPLACEMENT_SHIPMENT: frozenset({M, A}),
    Action.OUTBOUND_DELIVERED: frozenset({S, M, A}),
    Action.ESCALATION: frozenset({S, A, SUP, M}),
    Action.DISPUTE_EVIDENCE: frozenset({S, A, M}),
    Action.DISPUTE_RULING: frozenset({D}),
    Action.WITHDRAWAL: frozenset({S, A}),
    Action.APPEAL: frozenset({S, A}),
    Action.SURVEY: frozenset({S}),
    Action.NOTES: frozenset({S, A, SUP, MGR, D, M}),
    Action.SECOND_REMEDY: frozenset({A, SUP, MGR}),
    # Agents claim and release their own cases; supervisors assign, reassign and release any.
    Action.CLAIM: frozenset({A}),
    Action.ASSIGN: frozenset({SUP}),
    Action.RELEASE: frozenset({A, SUP}),
}
CREATE_ROLES = frozenset({S, A})
ADMIN_ROLES = frozenset({S, SUP, MGR})
# Queues are the platform's work lists: scoped by role, a merchant sees none of them.
QUEUE_ROLES = frozenset({S, A, SUP, MGR, D, Actor.OPS})
CODEC_ROLES = frozenset({Actor.OPS, SUP, D})
CHALLENGE = {"WWW-Authenticate": "Bearer"}
CODEC_COOKIE = "aftersales_codec"
VIA_API_KEY, VIA_CODEC_SESSION, VIA_CONSOLE = "api_key", "codec_session", "console"
# The console (api/console) calls these routes in-process for a signed-in person: its ASGI scope carries
# the identity under this key. A scope is built by the server, never by a client, so no request from
# outside can set it; the routes' role checks apply to the console exactly as to an API key.
CONSOLE_IDENTITY = "aftersales.console_identity"


@dataclass(frozen=True)
class Identity:
    key_id: str
    role: Actor
    merchant_id: str | None = None
    permissions: frozenset[str] = frozenset()
    via: str = VIA_API_KEY  # or VIA_CODEC_SESSION
    person_id: str | None = None  # the person the key belongs to (DESIGN §9)

    @classmethod
    def of_key(cls, row: ApiKeyRow, via: str = VIA_API_KEY) -> Identity:
        return cls(
            key_id=row.key_id,
            role=Actor(row.role),
            merchant_id=row.merchant_id,
            permissions=keys.permissions_of(row),
            via=via,
            person_id=row.person_id,
        )

    @property
    def decodes_personal_data(self) -> bool:
        """The codec shows this caller personal data in full (a permission of its own, any role)."""
        return keys.DECODE_PERSONAL in self.permissions

    @property
    def actor(self) -> str:
        """How the audit trail names who acted: the person when the key is one's, else the key."""
        scope = f":{self.merchant_id}" if self.merchant_id else ""
        return f"{self.role}{scope}:{self.person_id or self.key_id}"

    @property
    def idempotency_scope(self) -> str:
        """Idempotency keys belong to their caller (as payment providers scope them per account):
        the same key from another caller is another key."""
        return self.key_id

    def sees_merchant(self, merchant_id: str) -> bool:
        return self.role != Actor.MERCHANT or self.merchant_id == merchant_id

    @property
    def sees_personal_data(self) -> bool:
        return self.role in (Actor.SYSTEM, Actor.AGENT, Actor.SUPERVISOR, Actor.MANAGER, Actor.DISPUTE)


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials:
        return credentials.credentials[:200]
    return None


async def identity_of_key(ctx: AppContext, token: str, cached: bool = True) -> Identity | None:
    """The identity of an active API key (cached for a few seconds unless `cached` is False), or None."""

    def lookup() -> Identity | None:
        with ctx.reads() as session:
            row = keys.find_api_key(session, token)
            return Identity.of_key(row) if row is not None else None

    identity = ctx.known_keys.get(token) if cached else None
    if identity is None:
        identity = await run_in_threadpool(lookup)
        if identity is not None:
            ctx.known_keys.put(token, identity)
    return identity


async def authenticate(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Identity:
    token = bearer_token(credentials)
    console = request.scope.get(CONSOLE_IDENTITY)
    if token is None and isinstance(console, Identity):
        request.state.identity = console
        if console.person_id is not None:
            await ctx.presence.seen(console.person_id)
        return console
    if token is None:
        raise Problem(401, "missing bearer API key", headers=CHALLENGE)
    identity = await identity_of_key(ctx, token)
    if identity is None:
        raise Problem(401, "unknown or revoked API key", headers=CHALLENGE)
    request.state.identity = identity
    if identity.person_id is not None:
        await ctx.presence.seen(identity.person_id)
    return identity


async def authenticate_codec(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Identity:
    """/codec/decode and /encode: a bearer API key (the CLI: TEMPORAL_CODEC_AUTH) or the codec
    session cookie (the Temporal UI with "include cross-origin credentials"). Sessions are not cached:
    a sign-out or an expiry takes effect at once."""
    if bearer_token(credentials) is not None:
        return await authenticate(request, ctx, credentials)
    cookie = request.cookies.get(CODEC_COOKIE)
    if not cookie:
        raise Problem(
            401, "sign in to the codec first (GET /codec/sign-in) or send a bearer API key", headers=CHALLENGE
        )

    def lookup() -> Identity | None:
        with ctx.reads() as session:
            found = codec_access.find_codec_session(session, cookie[:200])
            return Identity.of_key(found[1], via=VIA_CODEC_SESSION) if found else None

    identity = await run_in_threadpool(lookup)
    if identity is None:
        raise Problem(
            401, "codec session expired or ended: sign in again at /codec/sign-in", headers=CHALLENGE
        )
    request.state.identity = identity
    return identity


def require(
    roles: frozenset[Actor], authenticator: Callable[..., Coroutine[Any, Any, Identity]] = authenticate
) -> Callable[..., Coroutine[Any, Any, Identity]]:
    async def check(identity: Identity) -> Identity:
        if identity.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            raise Problem(403, f"role {identity.role} may not do this; allowed: {allowed}")
        return identity

    # With postponed annotations FastAPI cannot see the closure's `authenticator`: give it the type.
    check.__annotations__["identity"] = Annotated[Identity, Depends(authenticator)]
    return check


Reader = Annotated[Identity, Depends(require(READERS))]
Creator = Annotated[Identity, Depends(require(CREATE_ROLES))]
Admin = Annotated[Identity, Depends(require(ADMIN_ROLES))]
QueueReader = Annotated[Identity, Depends(require(QUEUE_ROLES))]
CodecUser = Annotated[Identity, Depends(require(CODEC_ROLES, authenticate_codec))]
