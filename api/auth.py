"""Bearer API keys → an identity with one role; each endpoint names the roles it allows.

Keys are stored hashed (sha256); a merchant key is scoped to one merchant id, and a merchant
asking for another merchant's case gets 404, as if it did not exist (OWASP API1: BOLA).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import Context
from api.problems import Problem
from domain.enums import Action, Actor
from store import repository

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer ask_…`")
ROLES = (Actor.SYSTEM, Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE, Actor.MERCHANT, Actor.OPS)
READERS = frozenset(ROLES)
S, A, SUP, D, M = Actor.SYSTEM, Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE, Actor.MERCHANT

# Who may take each action. `system` relays what customers do in the shop front.
ACTION_ROLES: dict[Action, frozenset[Actor]] = {
    Action.CUSTOMER_INFO: frozenset({S, A}),
    Action.MERCHANT_RESPONSE: frozenset({M, A}),
    Action.PROPOSAL: frozenset({A}),
    Action.APPROVAL: frozenset({SUP}),
    Action.CUSTOMER_DECISION: frozenset({S, A}),
    Action.RETURN_SHIPMENT: frozenset({S, A}),
    Action.RETURN_DELIVERED: frozenset({S, M, A}),
    Action.INSPECTION: frozenset({M, A}),
    Action.REPLACEMENT_SHIPMENT: frozenset({M, A}),
    Action.ESCALATION: frozenset({S, A, SUP, M}),
    Action.DISPUTE_EVIDENCE: frozenset({S, A, M}),
    Action.DISPUTE_RULING: frozenset({D}),
    Action.WITHDRAWAL: frozenset({S, A}),
    Action.APPEAL: frozenset({S, A}),
    Action.SURVEY: frozenset({S}),
    Action.NOTES: frozenset({S, A, SUP, D, M}),
}
CREATE_ROLES = frozenset({S, A})
ADMIN_ROLES = frozenset({S, SUP})
CODEC_ROLES = frozenset({Actor.OPS, SUP, D})
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Identity:
    key_id: str
    role: Actor
    merchant_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names who acted."""
        scope = f":{self.merchant_id}" if self.merchant_id else ""
        return f"{self.role}{scope}:{self.key_id}"

    @property
    def idempotency_scope(self) -> str:
        """Idempotency keys belong to their caller (as payment providers scope them per account):
        the same key from another caller is another key."""
        return self.key_id

    def sees_merchant(self, merchant_id: str) -> bool:
        return self.role != Actor.MERCHANT or self.merchant_id == merchant_id

    @property
    def sees_personal_data(self) -> bool:
        return self.role in (Actor.SYSTEM, Actor.AGENT, Actor.SUPERVISOR, Actor.DISPUTE)


async def authenticate(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Identity:
    # The Temporal UI cannot send our header to a codec server: its endpoint may carry the key in
    # the path instead (/codec/k/<key>), as `make run` configures for the embedded default.
    in_path = request.path_params.get("key_in_path")
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials:
        token = credentials.credentials[:200]
    elif in_path and request.url.path.startswith("/codec/"):
        token = str(in_path)[:200]
    else:
        raise Problem(401, "missing bearer API key", headers=CHALLENGE)

    def lookup() -> Identity | None:
        with ctx.sessions() as session:
            row = repository.find_api_key(session, token)
            if row is None:
                return None
            return Identity(key_id=row.key_id, role=Actor(row.role), merchant_id=row.merchant_id)

    identity = ctx.known_keys.get(token)
    if identity is None:
        identity = await run_in_threadpool(lookup)
        if identity is not None:
            ctx.known_keys.put(token, identity)
    if identity is None:
        raise Problem(401, "unknown or revoked API key", headers=CHALLENGE)
    request.state.identity = identity
    return identity


def require(roles: frozenset[Actor]) -> Callable[..., Coroutine[Any, Any, Identity]]:
    async def check(identity: Annotated[Identity, Depends(authenticate)]) -> Identity:
        if identity.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            raise Problem(403, f"role {identity.role} may not do this; allowed: {allowed}")
        return identity

    return check


Reader = Annotated[Identity, Depends(require(READERS))]
Creator = Annotated[Identity, Depends(require(CREATE_ROLES))]
Admin = Annotated[Identity, Depends(require(ADMIN_ROLES))]
