"""Watching which scheduler leads during the soak: the lease's holder, sampled from Redis.

A standby must take over within about a lease of the leader's death; the longest span
with nobody holding the lease is the soak's measure of that (it includes Redis's own
restart, when nobody can hold anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from campaign_engine.keys import RedisKeys

SAMPLE_SECONDS = 0.25


def leader_summary(samples: Sequence[tuple[float, str | None]]) -> dict[str, Any]:
    """From ``(seconds, holder or None)`` samples in time order: how many times the lead
    changed hands, how many holders there were, and the longest span without a leader
    (from the first sample without one to the next with one, or to the last sample)."""
    holders: list[str] = []
    longest, since = 0.0, None
    longest_from = None
    for moment, holder in samples:
        if holder is None:
            since = moment if since is None else since
            continue
        if since is not None and moment - since > longest:
            longest, longest_from = moment - since, since
        since = None
        if not holders or holders[-1] != holder:
            holders.append(holder)
    if since is not None and samples and samples[-1][0] - since > longest:
        longest, longest_from = samples[-1][0] - since, since
    return {
        "lead_changes": max(0, len(holders) - 1),
        "distinct_leaders": len(set(holders)),
        "longest_leaderless_seconds": round(longest, 2),
        "longest_leaderless_from": None if longest_from is None else round(longest_from, 2),
    }


class LeaderWatch:
    """Samples the lease holder every :data:`SAMPLE_SECONDS` until stopped."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url = redis_url
        self.key = RedisKeys(prefix).scheduler_lease
        self.samples: list[tuple[float, str | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._began = 0.0

    def start(self) -> None:
        self._began = time.monotonic()
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return leader_summary(self.samples)

    async def _sample(self) -> None:
        client = Redis.from_url(self.redis_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                try:
                    value = await client.get(self.key)
                    holder = value.decode() if isinstance(value, bytes) else value
                except (RedisError, OSError):
                    holder = None
                self.samples.append((time.monotonic() - self._began, holder))
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await client.aclose()
