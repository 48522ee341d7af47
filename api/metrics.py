"""Prometheus metrics: requests and latency per route, cases started, actions per step."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


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

    def install(self, app: FastAPI) -> None:
        @app.middleware("http")
        async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            started = time.perf_counter()
            response = await call_next(request)
            route = request.scope.get("route")
            # The route template, not the raw path: case ids must not explode the label space.
            name = getattr(route, "path", "unmatched")
            self.requests.labels(name, request.method, str(response.status_code)).inc()
            self.latency.labels(name, request.method).observe(time.perf_counter() - started)
            return response

        @app.get("/metrics", tags=["ops"], include_in_schema=True)
        async def metrics() -> Response:
            """Prometheus text format."""
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
