"""The simulated Vocobase V2 API: the :class:`Simulator` state and the Starlette app over it.

Order of checks on ``POST /calls/start`` is fixed so tests can rely on it: shape (400),
agent (404), variables (400), provider allowed (403), telephony set-up (400/404, see
below), request rate (429), concurrency (429), then injected faults. A 429 never uses
request budget.

The two 429s are documented only as "429"; by default (``distinct_429s=False``) both
answer the same opaque ``{"code": "RATE_LIMITED", "message": "Too many requests"}``.
``distinct_429s=True`` words them apart (``RATE_LIMITED`` "...request rate limit..." vs
``CONCURRENCY_LIMIT_EXCEEDED`` "Concurrency limit exceeded: ...").

How a start's telephony set-up is checked, and the shape of ``GET /telephony/connections``,
are described in :mod:`campaign_engine.simulator.telephony`.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from campaign_engine.simulator.api_limits import SlidingWindow, concurrency_view, retry_after_header
from campaign_engine.simulator.calls import QUICK_OUTCOMES, CallBook, draw_plan
from campaign_engine.simulator.envelope import (
    ApiError,
    api_error_handler,
    error_response,
    http_error_handler,
    ok,
)
from campaign_engine.simulator.knobs import SimulatorConfig
from campaign_engine.simulator.ledger import Ledger, skewed_now
from campaign_engine.simulator.telephony import connection_for
from campaign_engine.simulator.validation import (
    check_variables_declared,
    parse_list_query,
    parse_start_body,
)
from campaign_engine.simulator.webhooks import WebhookSender

Clock = Callable[[], float]

OPAQUE_429_CODE = "RATE_LIMITED"
OPAQUE_429_MESSAGE = "Too many requests"


class Simulator:
    """Calls, limits, faults and evidence for one simulated partner account.

    Change knobs by assigning fields of ``simulator.config`` (validated on assignment);
    the running simulator reads them on every request.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.config = config
        self.ledger = Ledger()
        self.webhooks = WebhookSender(config, webhook_transport, now=self.now)
        salt = "unseeded" if config.seed is None else str(config.seed)
        self.calls = CallBook(
            self.ledger, on_processed=self.webhooks.dispatch, now=self.now, list_salt=salt
        )
        self._clock = clock
        self._calls_window = SlidingWindow()
        self._general_window = SlidingWindow()
        self._seed_rngs()

    def _seed_rngs(self) -> None:
        # Separate streams, so turning a fault knob never changes which calls succeed.
        seed = self.config.seed
        self._call_rng = random.Random(seed)
        self._fault_rng = random.Random(None if seed is None else f"{seed}:faults")

    def now(self) -> datetime:
        """The simulated Vocobase's clock: every timestamp it reports comes from here."""
        return skewed_now(self.config.clock_skew_seconds)

    async def start(self) -> None:
        """Nothing to open eagerly; present so hosts can treat the simulator as a service."""

    async def stop(self) -> None:
        await self.calls.cancel_all()
        await self.webhooks.aclose()

    async def reset(self) -> None:
        """Back to a fresh state (same config, same seed), for tests sharing one server."""
        await self.calls.cancel_all()
        await self.webhooks.cancel_all()
        self.calls.clear()
        self.ledger.clear()
        self._calls_window.clear()
        self._general_window.clear()
        self._seed_rngs()

    async def drain(self) -> None:
        """Wait until every call has ended and every webhook delivery has finished."""
        while self.calls.running or self.webhooks.in_flight:
            await self.calls.drain()
            await self.webhooks.drain()

    def authorized(self, header: str | None) -> bool:
        expected = f"Bearer {self.config.api_key}".encode()
        return hmac.compare_digest((header or "").encode(), expected)

    def _rate_limited(self, limit: int, scope: str) -> ApiError:
        self.ledger.note_429("rate")
        window = self.config.rate_window_seconds
        headers = {}
        if self.config.send_retry_after:
            pick = self._calls_window if scope == "/calls/*" else self._general_window
            headers["Retry-After"] = retry_after_header(pick.retry_after(self._clock(), window))
        if not self.config.distinct_429s:
            return ApiError(429, OPAQUE_429_CODE, OPAQUE_429_MESSAGE, headers)
        message = f"Too many requests: request rate limit of {limit} per {window:g}s on {scope}"
        return ApiError(429, "RATE_LIMITED", message, headers)

    def _concurrency_limited(self, active: int) -> ApiError:
        self.ledger.note_429("concurrency")
        headers = {"Retry-After": "1"} if self.config.send_retry_after else {}
        if not self.config.distinct_429s:
            return ApiError(429, OPAQUE_429_CODE, OPAQUE_429_MESSAGE, headers)
        message = (
            f"Concurrency limit exceeded: {active} of {self.config.concurrency} "
            "concurrent calls are active"
        )
        return ApiError(429, "CONCURRENCY_LIMIT_EXCEEDED", message, headers)

    def admit_general(self) -> None:
        now, limit = self._clock(), self.config.general_per_minute
        if not self._general_window.has_room(now, limit, self.config.rate_window_seconds):
            raise self._rate_limited(limit, "general endpoints")
        self._general_window.record(now, self.config.rate_window_seconds)

    def admit_calls(self, *, starting: bool = False) -> None:
        """The shared ``/calls/*`` window; a start is also held to the concurrency limit."""
        now, window = self._clock(), self.config.rate_window_seconds
        limit = self.config.calls_per_minute
        if not self._calls_window.has_room(now, limit, window):
            raise self._rate_limited(limit, "/calls/*")
        active = self.calls.active_count()
        if starting and active >= self.config.concurrency:
            raise self._concurrency_limited(active)
        self.ledger.note_calls_request(self._calls_window.record(now, window))

    def _injected_5xx(self) -> bool:
        if self._fault_rng.random() < self.config.p_5xx:
            self.ledger.responses_5xx += 1
            return True
        return False

    @staticmethod
    def _internal_error() -> ApiError:
        return ApiError(500, "INTERNAL_ERROR", "Internal server error (simulated fault)")

    async def start_call(self, raw: bytes) -> dict[str, Any]:
        config = self.config
        request = parse_start_body(raw)
        agent = config.agent(request.agent_id)
        if agent is None:
            raise ApiError(404, "NOT_FOUND", f"agent {request.agent_id} not found")
        check_variables_declared(request.variables, agent)
        if not config.provider_allowed(request.provider):
            message = f"provider not allowed: {request.provider} is not enabled for this partner"
            raise ApiError(403, "FORBIDDEN", message)
        connection = connection_for(config, request.provider, request.connection_id)
        if connection is not None and connection.phone_numbers:
            from_number = connection.phone_numbers[0]
        else:
            from_number = config.from_number
        self.admit_calls(starting=True)

        # Draw every fault roll up front, in a fixed order, for reproducible runs.
        fail = self._injected_5xx()
        fail_places_call = self._fault_rng.random() < config.p_5xx_places_call
        slow = self._fault_rng.random() < config.p_slow
        if fail and not fail_places_call:
            raise self._internal_error()

        plan = draw_plan(config, self._call_rng, agent)
        early = config.early_webhook and plan.outcome in QUICK_OUTCOMES and not fail
        call = self.calls.place(
            agent=agent,
            to_number=request.to_number,
            provider=request.provider,
            from_number=from_number,
            variables=request.variables,
            plan=plan,
            time_scale=config.time_scale,
            run=not early,
        )
        if fail:
            raise self._internal_error()
        if early:
            self.calls.finish_now(call)
            await self.webhooks.wait_first_attempt(call.call_id)
        if slow:
            self.ledger.slow_responses += 1
            await asyncio.sleep(config.slow_seconds)
        return {
            "call_id": call.call_id,
            "session_id": call.session_id,
            "status": "pending",
            "provider": request.provider,
            "from_number": call.from_number,
            "to_number": request.to_number,
            "agent_id": agent.agent_id,
        }

    def list_calls(self, params: Mapping[str, str]) -> dict[str, Any]:
        query = parse_list_query(params)
        self.admit_calls()
        if self._injected_5xx():
            raise self._internal_error()
        calls = self.calls.listed(query.status, self.config.list_order)
        page = calls[query.offset : query.offset + query.limit]
        return {
            "calls": [call.api_view() for call in page],
            "total": len(calls),
            "limit": query.limit,
            "offset": query.offset,
        }

    def get_call(self, call_id: str) -> dict[str, Any]:
        self.admit_calls()
        if self._injected_5xx():
            raise self._internal_error()
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError(404, "NOT_FOUND", f"call {call_id} not found")
        return call.detail_view(self.config.expose_disposition)

    def concurrency(self) -> dict[str, Any]:
        self.admit_calls()
        if self._injected_5xx():
            raise self._internal_error()
        return concurrency_view(self.config.concurrency, self.calls.active_count())

    def telephony_config(self) -> dict[str, Any]:
        self.admit_general()
        return self.config.telephony_view()

    def telephony_connections(self) -> dict[str, Any]:
        self.admit_general()
        return self.config.connections_view()

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        self.admit_general()
        agent = self.config.agent(agent_id)
        if agent is None:
            raise ApiError(404, "NOT_FOUND", f"agent {agent_id} not found")
        return agent.api_view()


class _ApiGuard:
    """Counts every API request and turns away those without the partner's key."""

    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self._app = app
        self._simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._simulator.ledger.requests_total += 1
            if not self._simulator.authorized(Headers(scope=scope).get("authorization")):
                message = "missing or invalid API key; send Authorization: Bearer <key>"
                await error_response(401, "UNAUTHORIZED", message)(scope, receive, send)
                return
        await self._app(scope, receive, send)


def create_app(
    config: SimulatorConfig,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    simulator: Simulator | None = None,
) -> Starlette:
    """The ASGI app; ``app.state.simulator`` is its :class:`Simulator`.

    Pass ``simulator`` to serve one built elsewhere (its own config then applies).
    """
    sim = simulator or Simulator(config, webhook_transport=webhook_transport)

    async def start_call(request: Request) -> Response:
        return ok(await sim.start_call(await request.body()))

    async def list_calls(request: Request) -> Response:
        return ok(sim.list_calls(request.query_params))

    async def get_call(request: Request) -> Response:
        return ok(sim.get_call(request.path_params["call_id"]))

    async def concurrency(request: Request) -> Response:
        return ok(sim.concurrency())

    async def telephony_config(request: Request) -> Response:
        return ok(sim.telephony_config())

    async def telephony_connections(request: Request) -> Response:
        return ok(sim.telephony_connections())

    async def get_agent(request: Request) -> Response:
        return ok(sim.get_agent(request.path_params["agent_id"]))

    async def ledger(request: Request) -> Response:
        return JSONResponse(sim.ledger.to_dict())

    async def reset(request: Request) -> Response:
        await sim.reset()
        return ok({"reset": True})

    api_routes = [
        Route("/calls/start", start_call, methods=["POST"]),
        Route("/calls/concurrency", concurrency, methods=["GET"]),
        Route("/calls", list_calls, methods=["GET"]),
        Route("/calls/{call_id}", get_call, methods=["GET"]),
        Route("/config", telephony_config, methods=["GET"]),
        Route("/telephony/connections", telephony_connections, methods=["GET"]),
        Route("/agent/{agent_id}", get_agent, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    app = Starlette(
        routes=[
            Mount("/api/v2", routes=api_routes, middleware=[Middleware(_ApiGuard, sim)]),
            Route("/_sim/ledger", ledger, methods=["GET"]),
            Route("/_sim/reset", reset, methods=["POST"]),
        ],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )
    app.state.simulator = sim
    return app
