"""The HTTP server: the Vocobase webhook receiver, health endpoints, ``/metrics`` and the
operator's console under ``/ops`` (one ASGI app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from campaign_engine import api
from campaign_engine.ops import metrics, metrics_access, web
from campaign_engine.ops.signature_watch import SignatureFailureCounter
from campaign_engine.runtime import Runtime
from campaign_engine.webhooks.background import InboxProcessor
from campaign_engine.webhooks.receiver import receive_vocobase


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database and Redis both answer."""
    runtime: Runtime = request.app.state.runtime
    problems = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; say which
        problems["database"] = type(exc).__name__
    try:
        await runtime.redis.ping()
    except Exception as exc:
        problems["redis"] = type(exc).__name__
    status = 503 if problems else 200
    return JSONResponse({"ok": not problems, "problems": problems}, status_code=status)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition, for a bearer of a token that may read it (metrics_access)."""
    runtime: Runtime = request.app.state.runtime
    if not await metrics_access.may_read(request, runtime):
        return metrics_access.refusal()
    body = await metrics.render(runtime)
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def private_metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition on the listener of its own (``[server] metrics_port``)."""
    runtime: Runtime = request.app.state.runtime
    if not await metrics_access.may_read_private(request, runtime):
        return metrics_access.refusal()
    body = await metrics.render(runtime)
    return Response(body, media_type=metrics.CONTENT_TYPE)


def create_metrics_app(runtime: Runtime) -> Starlette:
    """An app serving only ``GET /metrics``, for an address only Prometheus reaches."""
    app = Starlette(routes=[Route("/metrics", private_metrics_endpoint, methods=["GET"])])
    app.state.runtime = runtime
    return app


def create_app(runtime: Runtime) -> Starlette:
    """The app around an already-open runtime (the caller owns its lifetime)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.runtime = runtime
        # A running server applies accepted webhooks from its own queue, off the request.
        processor = InboxProcessor(runtime)
        processor.start()
        app.state.inbox_processor = processor
        try:
            yield
        finally:
            app.state.inbox_processor = None
            await processor.stop()

    app = Starlette(
        routes=[
            Route("/webhooks/vocobase", receive_vocobase, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            web.mount(),
            api.mount(),
        ],
        middleware=[Middleware(SignatureFailureCounter)],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
