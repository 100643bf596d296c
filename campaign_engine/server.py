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

from campaign_engine.ops import metrics, web
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
    """Prometheus exposition, read from the database and Redis at scrape time."""
    body = await metrics.render(request.app.state.runtime)
    return Response(body, media_type=metrics.CONTENT_TYPE)


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
        ],
        middleware=[Middleware(SignatureFailureCounter)],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
