"""The FastAPI application: thin routes over the case store and the case workflows."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import problems
from api.body_guard import BodyGuard
from api.console.routes import router as console_router
from api.console.routes import static as console_static
from api.deps import AppContext
from api.key_cache import KeyCache
from api.metrics import ApiMetrics
from api.presence import PresenceMarks
from api.readiness import Readiness
from api.request_ids import RequestIds
from api.routes_calendar import router as calendar_router
from api.routes_callbacks import router as callbacks_router
from api.routes_carriers import router as carriers_router
from api.routes_cases import router as cases_router
from api.routes_codec import build_router as build_codec_router
from api.routes_delegations import router as delegations_router
from api.routes_events import router as events_router
from api.routes_messages import router as messages_router
from api.routes_people import router as people_router
from api.routes_policies import router as policies_router
from api.routes_quality import router as quality_router
from api.routes_reports import router as reports_router
from api.routes_routing import router as routing_router
from api.routes_scorecards import router as scorecards_router
from api.routes_webhooks import router as webhooks_router
from api.temporal_gateway import TemporalGateway
from core.keyring import carrier_secrets
from core.settings import Settings, get_settings
from core.temporal import codec_for, connect
from store.configured import vault_for
from store.db import get_engine, make_session_factory

log = logging.getLogger("api")


def readiness_of(ctx: AppContext) -> Readiness:
    """The store and Temporal checks of /readyz, each bounded by the readiness timeout."""
    timeout = ctx.settings.ready_timeout_seconds

    def ping_db() -> None:
        with ctx.reads() as session:
            session.execute(text("SELECT 1"))

    async def database() -> None:
        await run_in_threadpool(ping_db)

    async def temporal() -> None:
        try:
            await ctx.gateway.client.service_client.check_health(timeout=timedelta(seconds=timeout))
        except RPCError as err:
            # Its own deadline: the same verdict. The client reports it as DEADLINE_EXCEEDED or as
            # CANCELLED "Timeout expired", whichever its runtime saw first.
            if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise TimeoutError from err
            raise

    return Readiness({"database": database, "temporal": temporal}, timeout)


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = ApiMetrics()
    codec = codec_for(settings)
    vault = vault_for(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temporal = client or await connect(settings)
        engine = get_engine(settings.resolved_database_url)
        gateway = TemporalGateway(temporal, settings.task_queue, settings.workflow_rpc_timeout_seconds)
        sessions = make_session_factory(engine, vault)
        app.state.ctx = AppContext(
            settings=settings,
            sessions=sessions,
            reads=make_session_factory(engine, vault, read_only=True),
            gateway=gateway,
            metrics=metrics,
            known_keys=KeyCache(settings.api_key_cache_seconds),
            presence=PresenceMarks(sessions, settings.presence_away_after_seconds),
            carrier_secrets=carrier_secrets(settings),
        )
        app.state.readiness = readiness_of(app.state.ctx)
        # What startup made (modules, models, the client) lives as long as the process: keep it out
        # of the collector's full passes, which otherwise walk it all and pause requests (p99).
        gc.freeze()
        yield
        # Starts still in flight end first; any that does not is made by a worker's start relay.
        await app.state.ctx.starts.drain(settings.workflow_rpc_timeout_seconds)

    app = FastAPI(
        title="After-sales case orchestration",
        version="0.1.0",
        description="Start and follow after-sales cases; every case runs as a durable Temporal workflow.",
        lifespan=lifespan,
    )
    problems.install(app)
    # Innermost, so the metrics and the request id see its 413 and 422 answers too.
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes)
    metrics.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()],
        allow_methods=["POST", "GET", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    app.add_middleware(RequestIds)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> Response:
        """The case store and Temporal answer, each within AFTERSALES_READY_TIMEOUT_SECONDS."""
        readiness: Readiness = request.app.state.readiness
        checks = await readiness.run()
        if all(v == "ok" for v in checks.values()):
            return Response(content='{"status":"ready"}', media_type="application/json")
        failing = ", ".join(f"{name} {verdict}" for name, verdict in checks.items() if verdict != "ok")
        return problems.problem_response(503, f"not ready: {failing}", "/problems/not-ready", checks=checks)

    app.include_router(cases_router)
    app.include_router(calendar_router)
    app.include_router(reports_router)
    app.include_router(people_router)
    app.include_router(messages_router)
    app.include_router(quality_router)
    app.include_router(callbacks_router)
    app.include_router(scorecards_router)
    app.include_router(routing_router)
    app.include_router(policies_router)
    app.include_router(delegations_router)
    app.include_router(carriers_router)
    app.include_router(events_router)
    app.include_router(webhooks_router)
    app.include_router(build_codec_router(codec, settings))
    app.mount("/console/static", console_static, name="console-static")
    app.include_router(console_router)
    return app
