"""Waiting until another session of a test is blocked on a lock, so that a race is run in
the order the test means (the assertions hold in either order; only the path differs)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from campaign_engine.runtime import Runtime

_WAITING = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE NOT l.granted AND a.datname = current_database()"
)


async def until_blocked(runtime: Runtime, *, tries: int = 200) -> None:
    """PostgreSQL: until some session of this database waits for a lock (or ``tries`` looks
    later). SQLite shows no waiters: a moment for the other task to reach its write."""
    if runtime.settings.database.url.startswith("sqlite"):
        await asyncio.sleep(0.3)
        return
    for _ in range(tries):
        async with runtime.sessions() as session:
            if await session.scalar(_WAITING):
                return
        await asyncio.sleep(0.05)
