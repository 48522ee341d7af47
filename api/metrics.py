"""Prometheus metrics: requests and latency per route, cases started, actions per step."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aftersales_http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aftersales_http_request_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.cases_started = Counter(
            "aftersales_cases_started_total", "Cases opened", ["issue_type"], registry=self.registry
        )
        self.actions = Counter(
            "aftersales_case_actions_total",
            "Human actions sent to cases, by action and outcome",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.messages = Counter(
            "aftersales_case_messages_total",
            "Conversation messages stored, by the party that wrote and the thread",
            ["party", "visibility"],
            registry=self.registry,
        )

    def install(self, app: FastAPI) -> None:
        app.add_middleware(Measured, metrics=self)

        @app.get("/metrics", tags=["ops"], include_in_schema=True)
        async def metrics() -> Response:
            """Prometheus text format."""
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class Measured:
    """Counts and times every HTTP request by route template (pure ASGI: no task or stream per request)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the answer says otherwise (an exception escaping here becomes a 500)

        async def seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            # The route template, not the raw path: case ids must not explode the label space.
            name = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(name, scope["method"], str(status)).inc()
            self.metrics.latency.labels(name, scope["method"]).observe(time.perf_counter() - started)
