"""Engine overhead: how fast can the engine start calls when no limit holds it back?

The simulator (its own process) answers instantly with every limit out of the way and sends
no webhooks; 10,000 contacts (smoke: 1,000) on PostgreSQL are dialed by 1, 2 and 4 worker
processes. The anchor is arq itself: the same number of jobs that do nothing, run by the
same number of arq worker processes configured like the dial workers. Targets: at least
500 starts/s, and at least half the no-op job rate.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from arq.connections import create_pool
from redis.asyncio import Redis
from sqlalchemy import func, select

from bench.support import REDIS_URL, free_port, redis_prefix, throwaway_postgres
from campaign_engine.campaigns import service
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.config import Settings, with_overrides
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.runner import Services
from campaign_engine.runtime import Runtime, redis_settings
from campaign_engine.spawn import CLI, worker_processes

KEY = "rg_live_overhead"
AGENT_ID = "00000000-0000-4000-8000-000000000001"  # the simulator's default agent
UNLIMITED = 10_000_000
WORKER_COUNTS = (1, 2, 4)


async def run(smoke: bool) -> dict[str, Any]:
    contacts = 1_000 if smoke else 10_000
    engine: dict[int, float] = {}
    noop: dict[int, float] = {}
    async with throwaway_postgres() as database_url, _simulator() as sim_url:
        for workers in WORKER_COUNTS:
            engine[workers] = await _engine_rate(database_url, sim_url, contacts, workers)
            noop[workers] = await _noop_rate(contacts, workers)
    best = max(engine.values())
    ratios = {w: round(engine[w] / noop[w], 3) for w in WORKER_COUNTS}
    return {
        "ok": all(rate > 0 for rate in engine.values()),
        "contacts": contacts,
        "database": "postgresql",
        "starts_per_s": {str(w): round(engine[w], 1) for w in WORKER_COUNTS},
        "noop_jobs_per_s": {str(w): round(noop[w], 1) for w in WORKER_COUNTS},
        "engine_over_noop": {str(w): ratios[w] for w in WORKER_COUNTS},
        "best_starts_per_s": round(best, 1),
        "target_starts_per_s": 500,
        "targets_met": best >= 500 and max(ratios.values()) >= 0.5,
    }


@asynccontextmanager
async def _simulator() -> AsyncIterator[str]:
    port = free_port()
    command = [
        *CLI, "simulator", "--port", str(port), "--api-key", KEY,
        "--calls-per-minute", str(UNLIMITED), "--general-per-minute", str(UNLIMITED),
        "--concurrency", str(UNLIMITED), "--time-scale", "0", "--seed", "1",
    ]  # fmt: skip
    proc = _spawn(command)
    base_url = f"http://127.0.0.1:{port}/api/v2"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    answer = await client.get(
                        f"{base_url}/config", headers={"Authorization": f"Bearer {KEY}"}
                    )
                    if answer.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _settings(database_url: str, prefix: str, sim_url: str) -> Settings:
    return with_overrides(
        Settings(),
        database={"url": database_url},
        redis={"url": REDIS_URL, "prefix": prefix},
        vocobase={"base_url": sim_url, "api_key": KEY},
        limits={
            "vocobase": {"calls_per_minute": UNLIMITED, "concurrency": UNLIMITED},
            "providers": {"mcube": {"calls_per_second": UNLIMITED}},
        },
        scheduler={"tick_seconds": 0.25, "batch_size": 2000, "reconcile_after_seconds": 3600},
    )


async def _engine_rate(database_url: str, sim_url: str, contacts: int, workers: int) -> float:
    async with redis_prefix() as prefix:
        settings = _settings(database_url, prefix, sim_url)
        runtime = await Runtime.open(settings)
        services = Services(runtime, worker=False, server=False)
        try:
            campaign_id = await _campaign(runtime, contacts, workers)
            with tempfile.TemporaryDirectory(prefix="ce-bench-") as logs:
                async with worker_processes(settings, workers, Path(logs)):
                    await asyncio.sleep(1.0)  # let the workers connect
                    await services.start()
                    async with runtime.sessions() as session, session.begin():
                        await service.start_campaign(session, campaign_id, None)
                    rate = await _started_rate(runtime, campaign_id, contacts)
            async with runtime.sessions() as session, session.begin():
                # The reconciler may have settled every call already (it reads the live
                # listings): only a campaign still open is canceled.
                if (await service.get_campaign(session, campaign_id)).state not in (
                    "completed",
                    "canceled",
                ):
                    await campaign_moves.cancel(
                        session, campaign_id, keys=runtime.keys, actor="bench"
                    )
        finally:
            await services.stop()
            await runtime.close()
    return rate


async def _campaign(runtime: Runtime, contacts: int, series: int) -> str:
    """Numbers of its own (``series``): an earlier round's calls may still be open, and one
    number is in one call at a time across campaigns."""
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="overhead", agent_id=AGENT_ID, retry_policy=RetryPolicy(max_attempts=1)
        )
        await service.check_with_vocobase(campaign, runtime.vocobase)
        for start in range(0, contacts, 2000):
            rows = [
                Accepted(
                    i + 2, f"+9195{series}{i:07d}", "IN", ("Asia/Calcutta",), {"name": f"N{i}"}
                )
                for i in range(start, min(start + 2000, contacts))
            ]
            await insert_batch(session, campaign.id, rows, due_at=utcnow())
    return campaign.id


async def _started_rate(runtime: Runtime, campaign_id: str, contacts: int) -> float:
    """Starts per second, from the first claim to the last start response."""
    give_up = time.monotonic() + 600
    while time.monotonic() < give_up:
        async with runtime.sessions() as session:
            count, first, last = (
                await session.execute(
                    select(
                        func.count(),
                        func.min(CallAttempt.claimed_at),
                        func.max(CallAttempt.started_at),
                    ).where(
                        # Started, whatever came after (the reconciler may already have
                        # seen short calls end).
                        CallAttempt.campaign_id == campaign_id,
                        CallAttempt.started_at.is_not(None),
                    )
                )
            ).one()
        if count >= contacts and first is not None and last is not None:
            return contacts / max((last - first).total_seconds(), 1e-6)
        await asyncio.sleep(0.25)
    return 0.0


async def _noop_rate(jobs: int, workers: int) -> float:
    async with redis_prefix() as prefix:
        queue, marks = f"{prefix}:noop-queue", f"{prefix}:marks"
        procs = [
            _spawn([sys.executable, "-m", "bench.noop_worker", REDIS_URL, queue])
            for _ in range(workers)
        ]
        runtime_redis = Redis.from_url(REDIS_URL)
        try:
            await asyncio.sleep(1.0)
            pool = await create_pool(redis_settings(REDIS_URL))
            for start in range(0, jobs, 100):
                await asyncio.gather(
                    *(
                        pool.enqueue_job(
                            "noop", marks, _job_id=f"{prefix}:noop:{i}", _queue_name=queue
                        )
                        for i in range(start, min(start + 100, jobs))
                    )
                )
            await pool.aclose()
            give_up = time.monotonic() + 600
            while time.monotonic() < give_up:
                done = int(await runtime_redis.get(f"{marks}:done") or 0)
                if done >= jobs:
                    break
                await asyncio.sleep(0.1)
            first = float(await runtime_redis.get(f"{marks}:first") or 0)
            last = float(await runtime_redis.get(f"{marks}:last") or 0)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
            await runtime_redis.aclose()
    return jobs / max(last - first, 1e-6)
