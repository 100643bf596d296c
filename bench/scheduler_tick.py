"""One scheduler tick at 10,000 and at 1,000,000 contacts, with 1,000 due in each.

The tick's work must grow with the contacts *due*, not with the campaign: the ratio of the
two tick times is the result (target: under 3). Contacts are seeded with COPY into a
throwaway PostgreSQL database (``BENCH_DATABASE_URL``, default the tests' server), or into
a SQLite file when no PostgreSQL answers; Redis is the tests' (a private key prefix,
removed afterwards). Each size is measured several times; the median is reported.

Seeded like a campaign in its second week: half the contacts final, a few hundred queued
or in a call, the rest waiting for later windows, and 1,000 due now.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import make_url, text, update

from campaign_engine.config import Settings, with_overrides
from campaign_engine.db.migrate import upgrade
from campaign_engine.db.models import Contact, utcnow
from campaign_engine.db.session import create_engine
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.runtime import Runtime

DUE = 1_000
REPEATS = 5
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
COLUMNS = [
    "campaign_id", "phone_e164", "region", "timezones", "variables", "state",
    "attempts_count", "next_attempt_at", "source_line", "created_at", "updated_at",
]  # fmt: skip


async def run(smoke: bool) -> dict[str, Any]:
    sizes = (10_000, 100_000) if smoke else (10_000, 1_000_000)
    async with _database() as (url, backend):
        results = {size: await _measure(url, backend, size) for size in sizes}
    small, large = (results[size] for size in sizes)
    ratio = large["tick_ms"] / small["tick_ms"]
    return {
        "ok": ratio < 3,
        "backend": backend,
        "due": DUE,
        **{f"tick_ms_{size}": results[size]["tick_ms"] for size in sizes},
        **{f"enqueue_due_ms_{size}": results[size]["enqueue_due_ms"] for size in sizes},
        "ratio": round(ratio, 2),
        "target_ratio": 3,
    }


@asynccontextmanager
async def _database() -> AsyncIterator[tuple[str, str]]:
    """A fresh, migrated database: PostgreSQL when it answers, else a SQLite file."""
    name = f"ce_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(DATABASE_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError:
        await admin.dispose()
        with tempfile.TemporaryDirectory(prefix="ce-bench-") as workdir:
            url = f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"
            await upgrade(url)
            yield url, "sqlite"
        return
    url = make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        yield url, "postgresql"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _rows(campaign_id: str, size: int) -> list[tuple[Any, ...]]:
    """Half final, 200 active, 1,000 due now, the rest waiting for later windows."""
    now = utcnow()
    later, past = now + timedelta(days=1), now - timedelta(minutes=1)
    zones = [json.dumps(["Asia/Calcutta"]), json.dumps(["America/New_York", "America/Chicago"])]
    rows = []
    for i in range(size):
        if i < DUE:
            state, due = "pending", past
        elif i < DUE + 200:
            state, due = ("calling" if i % 2 else "retrying"), later
        elif i % 2:
            state, due = "completed", None
        else:
            state, due = ("retrying" if i % 3 == 0 else "pending"), later + timedelta(seconds=i)
        rows.append(
            (
                campaign_id, f"+9170{i:08d}", "IN", zones[i % 2], '{"name": "x"}', state,
                1 if state != "pending" else 0, due, i + 2, now, now,
            )
        )  # fmt: skip
    return rows


async def _seed(url: str, backend: str, size: int) -> str:
    campaign_id = str(uuid.uuid4())
    now = utcnow()
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in ("call_attempts", "contacts", "campaign_events", "campaigns"):
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(
            text(
                "INSERT INTO campaigns (id, name, agent_id, provider, state, max_call_seconds,"
                " retry_policy, created_at, updated_at, started_at)"
                " VALUES (:id, 'bench', :agent, 'mcube', 'running', 600, '{}', :now, :now, :now)"
            ),
            {"id": campaign_id, "agent": AGENT_ID, "now": now.replace(tzinfo=None)
             if backend == "sqlite" else now},
        )  # fmt: skip
    rows = _rows(campaign_id, size)
    if backend == "postgresql":
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_records_to_table("contacts", records=rows, columns=COLUMNS)
            await conn.execute("VACUUM ANALYZE contacts")
        finally:
            await conn.close()
    else:
        placeholders = ", ".join(f":{c}" for c in COLUMNS)
        insert = text(f"INSERT INTO contacts ({', '.join(COLUMNS)}) VALUES ({placeholders})")
        async with engine.begin() as conn:
            for start in range(0, len(rows), 50_000):
                chunk = rows[start : start + 50_000]
                await conn.execute(
                    insert,
                    [
                        {c: (v.replace(tzinfo=None) if hasattr(v, "tzinfo") else v)
                         for c, v in zip(COLUMNS, row, strict=True)}
                        for row in chunk
                    ],
                )  # fmt: skip
            await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return campaign_id


async def _measure(url: str, backend: str, size: int) -> dict[str, float]:
    campaign_id = await _seed(url, backend, size)
    prefix = f"ce-bench-{uuid.uuid4().hex[:8]}"
    settings = with_overrides(
        Settings(),
        database={"url": url},
        redis={"url": REDIS_URL, "prefix": prefix},
        vocobase={"base_url": "http://127.0.0.1:9/api/v2", "api_key": "rg_live_bench"},
        scheduler={"batch_size": DUE},
        # Limits with room for every due contact: the tick's cost is measured, not theirs.
        limits={
            "vocobase": {"calls_per_minute": 10_000_000, "concurrency": 10 * DUE},
            "providers": {"mcube": {"calls_per_second": 10 * DUE}},
        },
    )
    runtime = await Runtime.open(settings)
    try:
        scheduler = Scheduler(runtime)
        await runtime.redis.set(runtime.keys.learned_concurrency, 10 * DUE)
        await scheduler.tick()  # the first tick rebuilds the Redis state: not measured
        ticks, enqueues = [], []
        for _ in range(REPEATS):
            await _reset(runtime, campaign_id)
            started = time.perf_counter()
            stats = await scheduler.tick()
            ticks.append(time.perf_counter() - started)
            assert stats.enqueued == DUE, stats
            await _reset(runtime, campaign_id)
            started = time.perf_counter()
            assert await scheduler.enqueue_due() == DUE
            enqueues.append(time.perf_counter() - started)
    finally:
        await _clean_redis(prefix)
        await runtime.close()
    return {
        "tick_ms": round(statistics.median(ticks) * 1000, 1),
        "enqueue_due_ms": round(statistics.median(enqueues) * 1000, 1),
    }


async def _reset(runtime: Runtime, campaign_id: str) -> None:
    """The due contacts are due (and unqueued) again; the queue is empty."""
    past = utcnow() - timedelta(minutes=1)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id, Contact.state == "queued")
            .values(state="pending", queued_at=None, next_attempt_at=past)
        )
    await runtime.redis.delete(runtime.keys.queue)
    async for key in runtime.redis.scan_iter(match=f"arq:job:{runtime.keys.prefix}:*"):
        await runtime.redis.delete(key)


async def _clean_redis(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        for pattern in (f"{prefix}:*", f"arq:*{prefix}*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


if __name__ == "__main__":
    print(asyncio.run(run(smoke=True)))
