"""Calls of the API's own routes from the console, in-process: the same validation, role checks and
problem details as over HTTP, for the signed-in person (api.auth.CONSOLE_IDENTITY in the scope)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.types import ASGIApp, Message

from api.auth import CONSOLE_IDENTITY, Identity


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> dict[str, Any]:
        """The problem document of a failed call (RFC 9457), or a minimal one."""
        if isinstance(self.body, dict):
            return self.body
        return {"status": self.status, "title": "Error", "detail": str(self.body or "")}


async def call(
    app: ASGIApp,
    identity: Identity,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
) -> Answer:
    """One request to the app as `identity`; the answer's JSON body (or text)."""
    query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
    payload = b"" if body is None else json.dumps(body).encode()
    headers = [(b"host", b"console.internal"), (b"accept", b"application/json")]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": ("console.internal", 80),
        "state": {},
        CONSOLE_IDENTITY: identity,
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.Event().wait()  # the caller never goes away: wait until cancelled
        return {"type": "http.disconnect"}

    status = 500
    answer_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answer_headers.update({k.decode(): v.decode() for k, v in message.get("headers", [])})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    raw = b"".join(chunks)
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, parsed, answer_headers)
