"""RFC 9457 problem details: every error the API returns is `application/problem+json`."""

from __future__ import annotations

import logging
from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.vault import UnknownKeyError

log = logging.getLogger("api")
PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Problem(Exception):
    """Raise anywhere in a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int, detail: str, type_: str = "about:blank", headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": type_, "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body",)) or "body"


def _unavailable(exc: DBAPIError) -> bool:
    """Connection-level failures: refused, dropped, shutting down, or an invalidated connection."""
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.type, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _location(e.get("loc", ())),
                "message": e.get("msg", "invalid"),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem_response(422, detail, "/problems/validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        # The database restarting or out of connections is an outage, not a bug: say so, and when
        # to retry. Other database errors (a constraint the code did not expect) stay 500s.
        if isinstance(exc, DBAPIError) and not _unavailable(exc):
            return await _unexpected(request, exc)
        log.warning(
            "case store unavailable on %s %s: %s", request.method, request.url.path, exc.__class__.__name__
        )
        return problem_response(
            503, "the case store is unavailable; retry shortly", "/problems/store-unavailable",
            headers={"Retry-After": "2"},
        )  # fmt: skip

    @app.exception_handler(UnknownKeyError)
    @app.exception_handler(InvalidTag)
    async def _sealed(request: Request, exc: Exception) -> JSONResponse:
        # Sealed personal data this process cannot open: a codec key missing from its configuration
        # (an operator's fix), or a row altered outside the service. Never a caller's fault.
        log.error(
            "sealed personal data could not be opened on %s %s: %r", request.method, request.url.path, exc
        )
        detail = str(exc) if isinstance(exc, UnknownKeyError) else "a sealed field of this case does not open"
        return problem_response(503, detail, "/problems/personal-data-sealed")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "an unexpected error occurred; it has been logged")
