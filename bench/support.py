"""What the benchmarks share: a throwaway database, the Redis to use, free ports."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from sqlalchemy import make_url, text

from campaign_engine.campaigns import service
from campaign_engine.db.migrate import upgrade
from campaign_engine.db.session import create_engine
from campaign_engine.runtime import Runtime

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards; yields its URL."""
    name = f"ce_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(DATABASE_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A private key prefix in the benchmark Redis, removed afterwards."""
    prefix = f"ce-bench-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        client = Redis.from_url(REDIS_URL)
        for pattern in (f"{prefix}:*", f"arq:*{prefix}*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 1000):
                await client.delete(*keys[start : start + 1000])
        await client.aclose()


async def wait_completed(
    runtime: Runtime, campaign_id: str, limit: float, poll: float = 0.2
) -> bool:
    """Whether the campaign completed within ``limit`` seconds (asked every ``poll``)."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        async with runtime.sessions() as session:
            status = await service.campaign_status(session, campaign_id)
        if status["state"] == "completed":
            return True
        await asyncio.sleep(poll)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
