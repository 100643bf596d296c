"""A running engine (worker, scheduler, webhook server) wired to a running simulator.

Everything talks over real loopback sockets, real Redis and a real database, exactly as in
production; only Vocobase is the simulator.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from campaign_engine.campaigns import service
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import utcnow
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import Simulator, SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import SimAgent
from tests.conftest import engine_settings

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
API_KEY = "rg_live_harness"
SECRET = "whsec_harness"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quick_policy(max_attempts: int = 3) -> RetryPolicy:
    rule = {"delay_seconds": 0.1, "max_retries": 2}
    return RetryPolicy(
        max_attempts=max_attempts,
        rules={
            outcome: RetryRule(**rule)
            for outcome in (
                Outcome.NO_ANSWER,
                Outcome.BUSY,
                Outcome.FAILED,
                Outcome.VOICEMAIL,
                Outcome.USER_HANGUP_NO_SPEECH,
            )
        },
    )


def sim_config(**knobs: Any) -> SimulatorConfig:
    defaults: dict[str, Any] = {
        "api_key": API_KEY,
        "webhook_secret": SECRET,
        "agents": [
            SimAgent(
                agent_id=AGENT_ID,
                name="Test agent",
                variables=["name", "ce_attempt_id"],
                max_call_duration_secs=60,
            )
        ],
        "time_scale": 0.01,
        "calls_per_minute": 6000,
        "general_per_minute": 6000,
        "concurrency": 5,
        "seed": 11,
    }
    defaults.update(knobs)
    return SimulatorConfig(**defaults)


@dataclass
class Harness:
    runtime: Runtime
    services: Services
    simulator: Simulator

    async def add_campaign(
        self,
        numbers: list[str],
        *,
        policy: RetryPolicy | None = None,
        start: bool = True,
        **fields: Any,
    ) -> str:
        async with self.runtime.sessions() as session, session.begin():
            campaign = await service.create_campaign(
                session,
                name="test",
                agent_id=AGENT_ID,
                retry_policy=policy or quick_policy(),
                **fields,
            )
            await service.check_with_vocobase(campaign, self.runtime.vocobase)
            rows = [
                Accepted(i + 2, number, "IN", ("Asia/Calcutta",), {"name": f"P{i}"})
                for i, number in enumerate(numbers)
            ]
            await insert_batch(session, campaign.id, rows, due_at=utcnow())
        if start:
            await self.start_campaign(campaign.id)
        return campaign.id

    async def start_campaign(self, campaign_id: str) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign_id, None)

    async def status(self, campaign_id: str) -> dict[str, Any]:
        async with self.runtime.sessions() as session:
            return await service.campaign_status(session, campaign_id)

    async def run_to_completion(self, campaign_id: str, limit_seconds: float = 60) -> None:
        last: dict[str, Any] = {}

        async def done() -> bool:
            last.update(await self.status(campaign_id))
            return bool(last["state"] == "completed")

        try:
            await wait_until(done, limit_seconds, f"campaign {campaign_id} to complete")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last status: {last}") from None


async def wait_until(
    condition: Callable[[], Awaitable[bool]], limit_seconds: float, what: str
) -> None:
    """Poll ``condition``; fail with ``what`` if it is still false after the limit."""
    give_up = time.monotonic() + limit_seconds
    while not await condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what} after {limit_seconds}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_engine(
    database_url: str,
    redis_prefix: str,
    *,
    simulator: SimulatorConfig | None = None,
    with_worker: bool = True,
    with_scheduler: bool = True,
    **sections: dict[str, Any],
) -> AsyncIterator[Harness]:
    port = free_port()
    config = simulator or sim_config()
    config.webhook_url = f"http://127.0.0.1:{port}/webhooks/vocobase"
    async with serve_in_background(config) as (sim_url, sim):
        sections.setdefault("limits", {"vocobase": {"calls_per_minute": 6000}})
        settings = engine_settings(
            database_url,
            redis_prefix,
            base_url=sim_url,
            api_key=config.api_key,
            webhook_secret=config.webhook_secret,
            **sections,
        )
        runtime = await Runtime.open(settings)
        services = Services(runtime, port=port, worker=with_worker, scheduler=with_scheduler)
        try:
            await services.start()
            yield Harness(runtime, services, sim)
        finally:
            await services.stop()
            await runtime.close()
