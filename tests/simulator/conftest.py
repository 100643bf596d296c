"""Shared fixtures: a simulator behind httpx's ASGI transport, and a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from campaign_engine.simulator import Simulator, SimulatorConfig, create_app
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID

API_KEY = "rg_live_test"
AGENT_ID = DEFAULT_AGENT_ID
AUTH = {"Authorization": f"Bearer {API_KEY}"}

SimFactory = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Simulator]]]


def fast_config(**overrides: Any) -> SimulatorConfig:
    """Calls take milliseconds and outcomes are reproducible."""
    fields: dict[str, Any] = {"api_key": API_KEY, "time_scale": 0.001, "seed": 7}
    fields.update(overrides)
    return SimulatorConfig(**fields)


def start_body(to_number: str = "+919876543210", **extra: Any) -> dict[str, Any]:
    return {"agent_id": AGENT_ID, "to_number": to_number, **extra}


class Receiver:
    """A webhook endpoint answering with scripted statuses (then 200), recording requests."""

    def __init__(self, statuses: list[int] | None = None, fail_with: Exception | None = None):
        self.requests: list[httpx.Request] = []
        self._statuses = list(statuses or [])
        self._fail_with = fail_with
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._fail_with is not None:
            raise self._fail_with
        status = self._statuses.pop(0) if self._statuses else 200
        return httpx.Response(status)


@pytest.fixture
def sim() -> SimFactory:
    """``async with sim(config, receiver) as (client, simulator)`` — an authorised client."""

    @asynccontextmanager
    async def open_sim(
        config: SimulatorConfig | None = None,
        receiver: Receiver | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator]]:
        simulator = Simulator(
            config or fast_config(),
            webhook_transport=receiver.transport if receiver else None,
            **kwargs,
        )
        app = create_app(simulator.config, simulator=simulator)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim/api/v2", headers=AUTH
        ) as client:
            try:
                yield client, simulator
            finally:
                await simulator.stop()

    return open_sim
