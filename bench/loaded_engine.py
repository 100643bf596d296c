"""An engine under load, for the fairness and call-now benchmarks.

Real time (no speedup: the providers' own rates are the point): the simulator at its
documented behaviour except short calls and post-call processing (they only need to keep
slots turning over) and only completed outcomes (no retries), a Vocobase request rate that
never binds (so the providers' rates do), partner concurrency ``concurrency``; the engine's
scheduler and webhook server in this process, ``workers`` worker processes, the providers'
published rates (Twilio 1 call/s, Exotel 200 a minute). While it runs, the dial queue is
sampled every ``SAMPLE_SECONDS``: its jobs (arq) and its queued contacts (database).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from bench.support import REDIS_URL, free_port, redis_prefix
from campaign_engine.campaigns import service
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.config import Settings, with_overrides
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import Contact, utcnow
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import Simulator, SimulatorConfig
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID
from campaign_engine.spawn import worker_processes

KEY = "rg_live_bench"
SECRET = "whsec_bench"
SAMPLE_SECONDS = 0.05
REQUESTS_PER_MINUTE = 1200


@dataclass
class QueueSamples:
    """The dial queue's high-water marks over the run."""

    max_jobs: int = 0
    max_contacts: int = 0
    samples: int = 0


@dataclass
class LoadedEngine:
    runtime: Runtime
    simulator: Simulator
    concurrency: int
    queue: QueueSamples = field(default_factory=QueueSamples)

    async def campaign(self, provider: str, numbers: list[str], *, start: bool = True) -> str:
        """A campaign of ``numbers`` on ``provider``, checked with the simulator; started
        unless told not to (see :meth:`start`)."""
        async with self.runtime.sessions() as session, session.begin():
            campaign = await service.create_campaign(
                session,
                name=f"bench-{provider}",
                agent_id=DEFAULT_AGENT_ID,
                provider=provider,
                retry_policy=RetryPolicy(max_attempts=1),
            )
            for begin in range(0, len(numbers), 5000):
                rows = [
                    Accepted(begin + i + 2, number, "IN", ("Asia/Calcutta",), {"name": "N"})
                    for i, number in enumerate(numbers[begin : begin + 5000])
                ]
                await insert_batch(session, campaign.id, rows, due_at=utcnow())
            await service.check_with_vocobase(campaign, self.runtime.vocobase)
        if start:
            await self.start(campaign.id)
        return campaign.id

    async def start(self, campaign_id: str) -> datetime:
        """``campaign start``; the moment it was committed."""
        async with self.runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign_id, None)
        return utcnow()

    def first_call(self, number: str) -> datetime | None:
        calls = self.simulator.ledger.calls_to(number)
        return min((call.created_at for call in calls), default=None)

    async def _sample(self) -> None:
        while True:
            jobs = int(await self.runtime.redis.zcard(self.runtime.keys.queue))
            async with self.runtime.sessions() as session:
                contacts = int(
                    await session.scalar(select(func.count()).where(Contact.state == "queued")) or 0
                )
            self.queue.max_jobs = max(self.queue.max_jobs, jobs)
            self.queue.max_contacts = max(self.queue.max_contacts, contacts)
            self.queue.samples += 1
            await asyncio.sleep(SAMPLE_SECONDS)


def _settings(database_url: str, prefix: str, sim_url: str, port: int) -> Settings:
    return with_overrides(
        Settings(),
        database={"url": database_url},
        redis={"url": REDIS_URL, "prefix": prefix},
        vocobase={"base_url": sim_url, "api_key": KEY, "webhook_secret": SECRET},
        server={"port": port},
        limits={
            "vocobase": {"calls_per_minute": REQUESTS_PER_MINUTE, "concurrency": "auto"},
        },
        scheduler={"tick_seconds": 0.5, "live_scan_seconds": 1.0},
    )


@asynccontextmanager
async def loaded_engine(
    database_url: str, *, concurrency: int, workers: int = 2
) -> AsyncIterator[LoadedEngine]:
    """The engine and its simulator, running; the queue sampled until the block ends."""
    async with redis_prefix() as prefix:
        port = free_port()
        config = SimulatorConfig(
            api_key=KEY,
            webhook_secret=SECRET,
            webhook_url=f"http://127.0.0.1:{port}/webhooks/vocobase",
            calls_per_minute=REQUESTS_PER_MINUTE,
            concurrency=concurrency,
            ring_seconds=(0.5, 1.5),
            talk_seconds=(2.0, 6.0),
            processing_seconds=(0.2, 0.5),
            outcome_mix={"completed": 1.0},
        )
        async with serve_in_background(config) as (sim_url, simulator):
            settings = _settings(database_url, prefix, sim_url, port)
            runtime = await Runtime.open(settings)
            services = Services(runtime, worker=False, port=port)
            await services.start()
            engine = LoadedEngine(runtime, simulator, concurrency)
            sampler = asyncio.create_task(engine._sample())
            try:
                with tempfile.TemporaryDirectory(prefix="ce-bench-") as logs:
                    async with worker_processes(settings, workers, Path(logs)):
                        await _workers_ready(runtime)
                        yield engine
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                await services.stop()
                await runtime.close()


async def _workers_ready(runtime: Runtime) -> None:
    for _ in range(600):
        if await runtime.redis.exists(f"{runtime.keys.prefix}:worker-health"):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


def numbers(count: int, block: int) -> list[str]:
    return [f"+91{block}{index:09d}" for index in range(count)]


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0-1)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return round(ordered[int(rank) - 1], 3)
