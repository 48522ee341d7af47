"""X-Request-Id: taken from the request (at most 100 characters), carried by every log line of the
request (core.logging) and echoed on the answer. Pure ASGI: the request runs in the caller's task,
with no extra task and stream per request (Starlette's BaseHTTPMiddleware costs both)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logging import request_id_var

HEADER = b"x-request-id"


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), b"").decode("latin-1")[:100]
        token = request_id_var.set(given or None)

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = given
            await send(message)

        try:
            await self.app(scope, receive, echo if given else send)
        finally:
            request_id_var.reset(token)
