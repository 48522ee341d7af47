"""Request bodies: at most `max_body_bytes` actually read, and JSON that means one thing only.

A pure ASGI middleware, so it sees the body as it arrives: a chunked request (no Content-Length) is
counted byte by byte and refused with 413 once it passes the limit. Nothing over the limit is kept;
up to `drain_bytes` more are read and thrown away before the answer, so a client that is still
sending a body a little too large reads a clean 413 instead of a connection reset (what nginx calls
a lingering close). A body larger than that is cut off: the answer goes out and the connection closes.
The body it let through is buffered (bounded by the limit) and, when it is JSON, parsed once here
with a hook that notices duplicate keys: `{"issue_type": "a", "issue_type": "b"}` would otherwise
mean whatever the last one says, so it is refused with 422 naming the key and where it is. Malformed
JSON (also NaN and Infinity, which RFC 8259 does not allow) is a 422 here too, never a 500.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from api import problems


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it was given more than once."""

    duplicates: list[str]


class _DuplicateSeen:
    def __init__(self) -> None:
        self.any = False

    def hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = _Object(pairs)
        if len(obj) != len(pairs):
            counts = Counter(key for key, _ in pairs)
            obj.duplicates = sorted(key for key, n in counts.items() if n > 1)
            self.any = True
        return obj


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def duplicate_keys(body: bytes) -> list[tuple[str, str]]:
    """(where, key) of every key given twice in one object, at any depth; raises ValueError for
    anything that is not strict JSON (RecursionError for absurd nesting)."""
    seen = _DuplicateSeen()
    document = json.loads(body, object_pairs_hook=seen.hook, parse_constant=_refuse_constant)
    if not seen.any:
        return []
    return [(_where(path, key), key) for path, obj in _objects(document) for key in obj.duplicates]


def _objects(document: Any) -> Iterator[tuple[tuple[str, ...], _Object]]:
    """Every object with duplicates and its path; iterative, as deep as the parser allowed."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value, _Object) and hasattr(value, "duplicates"):
                yield path, value
            stack += [((*path, str(k)), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [((*path, str(i)), v) for i, v in enumerate(value)]


def _where(path: tuple[str, ...], key: str) -> str:
    """The field as the validation problems name it: dotted, list indexes as numbers."""
    return ".".join((*path, key))


def is_json(content_type: str | None) -> bool:
    """What FastAPI parses as JSON: no Content-Type at all, application/json or application/*+json."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    json_subtype = subtype == "json" or subtype.endswith("+json")
    return message.get_content_maintype() == "application" and json_subtype


class BodyGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, drain_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # How much of a refused body is read and discarded before answering (default: the limit).
        self.drain_bytes = max_body_bytes if drain_bytes is None else drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(scope, receive, send, already_read=0)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                more = message.get("more_body", False)
                await self._too_large(scope, receive, send, already_read=size, more_body=more)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and is_json(headers.get("content-type")):
            refusal = _check_json(body)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, already_read: int, more_body: bool = True
    ) -> None:
        if more_body:
            await self._drain(receive, budget=self.max_body_bytes + self.drain_bytes - already_read)
        answer = problems.problem_response(
            413, f"request body must be at most {self.max_body_bytes} bytes", "/problems/body-too-large"
        )
        answer.headers["Connection"] = "close"  # the unread rest of the body cannot be skipped cheaply
        await answer(scope, receive, send)

    @staticmethod
    async def _drain(receive: Receive, budget: int) -> None:
        """Read and discard the rest of the body while it fits in `budget` bytes; stop early at
        the end of the body or a disconnect. Nothing read here is kept."""
        while budget >= 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return


def _check_json(body: bytes) -> ASGIApp | None:
    """None when the body is one unambiguous JSON document, else the 422 answer."""
    try:
        found = duplicate_keys(body)
    except (ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        message = f"the body is not valid JSON: {reason}"
        errors = [{"field": "body", "message": message, "type": "json_invalid"}]
        return problems.problem_response(422, message, "/problems/validation", errors=errors)
    if not found:
        return None
    errors = [
        {
            "field": where,
            "message": f"key {key!r} is given more than once; a JSON object must name each key once",
            "type": "duplicate_key",
        }
        for where, key in found
    ]
    detail = f"{errors[0]['field']}: {errors[0]['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problems.problem_response(422, detail, "/problems/validation", errors=errors)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then whatever the server says next (a disconnect)."""
    sent = False

    async def replay() -> AsgiMessage:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
