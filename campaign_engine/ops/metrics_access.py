"""Who may read ``/metrics``: its counts describe the whole operation, so the public server
serves them only to a bearer of ``[server] metrics_token``, of the ``[ops]`` token, or of a
named token of read scope (or more). With none of those set, nobody reads them there.

A listener of its own (``[server] metrics_port``), meant for an address only Prometheus
reaches, asks for ``metrics_token`` when one is set and for nothing otherwise.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from campaign_engine.ops.tokens import Scope, verify_token
from campaign_engine.runtime import Runtime

REFUSAL = (
    "GET /metrics needs Authorization: Bearer <token>: [server] metrics_token, the [ops] "
    "token or a named token of read scope\n"
)


def _bearer(request: Request) -> str:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return offered.strip() if scheme.lower() == "bearer" else ""


async def may_read(request: Request, runtime: Runtime) -> bool:
    """Whether the request carries a token that may read the metrics."""
    offered = _bearer(request)
    if not offered:
        return False
    settings = runtime.settings
    metrics_token = settings.server.metrics_token.get_secret_value()
    if metrics_token and hmac.compare_digest(offered.encode(), metrics_token.encode()):
        return True
    async with runtime.sessions() as session, session.begin():
        principal = await verify_token(
            session, offered, config_token=settings.ops.token.get_secret_value() or None
        )
    return principal is not None and principal.allows(Scope.READ)


async def may_read_private(request: Request, runtime: Runtime) -> bool:
    """On the metrics listener of its own: anyone, unless ``metrics_token`` is set."""
    if not runtime.settings.server.metrics_token.get_secret_value():
        return True
    return await may_read(request, runtime)


def refusal() -> PlainTextResponse:
    return PlainTextResponse(
        REFUSAL, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
    )
