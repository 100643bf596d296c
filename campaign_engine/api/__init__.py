"""The REST API under ``/api/v1``: every operation declared once in a module per resource
(:mod:`campaign_engine.api.registry`), its OpenAPI 3.1 document and a docs page."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from campaign_engine.api import (
    audit_log,
    blackouts,
    campaigns,
    contacts,
    limits,
    notifications,
    openapi,
    queues,
    results,
    suppressions,
    tokens,
    uploads,
)
from campaign_engine.api.problems import problem_response
from campaign_engine.api.registry import Operation, route

PREFIX = "/api/v1"
OPERATIONS: list[Operation] = [
    *campaigns.OPERATIONS,
    *uploads.OPERATIONS,
    *contacts.OPERATIONS,
    *suppressions.OPERATIONS,
    *blackouts.OPERATIONS,
    *queues.OPERATIONS,
    *limits.OPERATIONS,
    *results.OPERATIONS,
    *notifications.OPERATIONS,
    *audit_log.OPERATIONS,
    *tokens.OPERATIONS,
]


def _version() -> str:
    try:
        return version("campaign-engine")
    except PackageNotFoundError:
        return "0"


@cache
def openapi_document() -> dict[str, Any]:
    return openapi.document(OPERATIONS, version=_version())


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(openapi.DOCS_PAGE)


async def not_found(request: Request) -> Response:
    methods = {op.method for op in OPERATIONS}
    status = 405 if request.method not in methods | {"HEAD"} else 404
    return (
        problem_response(404, f"no operation {request.method} {request.url.path}")
        if (status == 404)
        else problem_response(405, f"method {request.method} is not used by this API")
    )


def mount() -> Mount:
    return Mount(
        PREFIX,
        routes=[
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            *(route(op) for op in OPERATIONS),
            Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ],
    )
