"""The worker's Prometheus endpoint (the outbox relay's metrics)."""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from core.settings import Settings

log = logging.getLogger(__name__)


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> WSGIServer | None:
    """Serve `registry` on http://worker_metrics_host:worker_metrics_port/metrics from a daemon thread.

    A port in use (a second worker on one host) is logged, not fatal: cases matter more than metrics.
    Returns the server (`shutdown()` stops it), None when it serves nothing.
    """
    if not settings.worker_metrics_port:
        return None
    where = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    try:
        server, _ = start_http_server(
            settings.worker_metrics_port, settings.worker_metrics_host, registry=registry
        )
    except OSError as err:
        log.warning(
            "worker metrics not served: %s is unavailable (%s); set AFTERSALES_WORKER_METRICS_PORT",
            where,
            err,
        )
        return None
    log.info("worker metrics on http://%s/metrics", where)
    return server
