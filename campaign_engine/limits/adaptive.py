"""What the fleet has learned about its limits, shared in Redis: the partner concurrency
read from ``GET /calls/concurrency``, and the limits lowered after 429s.

A 429 means our idea of a limit is wrong, so the limit in force drops a step (at most one
step per second for the whole fleet, however many workers saw the 429 at once). The lowered
values expire after :data:`ADAPTIVE_MEMORY_SECONDS` without a new 429: when the 429s stop,
the configured limits come back by themselves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from campaign_engine.config import LimitSettings
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.plan import (
    ADAPTIVE_MEMORY_SECONDS,
    effective_concurrency,
    lowered_concurrency,
    lowered_rate_factor,
)

STEP_LOCK_MS = 1000
# How long a process reuses the limit state it read: a limit decision then costs one Redis
# round trip (the limiter script) in the common case. A change made elsewhere reaches this
# process within this time; meanwhile the fleet-wide cooldown after a 429 holds it back.
STATE_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class LimitState:
    learned_concurrency: int | None = None
    lowered_concurrency: int | None = None
    rate_factor: float = 1.0

    def concurrency(self, limits: LimitSettings) -> int:
        return effective_concurrency(limits, self.learned_concurrency, self.lowered_concurrency)


async def read_limit_state(redis: Redis, keys: RedisKeys) -> LimitState:
    learned, lowered, factor = await redis.mget(
        keys.learned_concurrency, keys.lowered_concurrency, keys.lowered_rate
    )
    return LimitState(
        learned_concurrency=int(learned) if learned is not None else None,
        lowered_concurrency=int(lowered) if lowered is not None else None,
        rate_factor=float(factor) if factor is not None else 1.0,
    )


async def after_rate_limited(
    redis: Redis, keys: RedisKeys, limits: LimitSettings, kind: str
) -> None:
    """Lower the limit a 429 of this ``kind`` (``rate``/``concurrency``/``unknown``) hit."""
    if not await redis.set(keys.counter("limit-step"), "1", nx=True, px=STEP_LOCK_MS):
        return
    state = await read_limit_state(redis, keys)
    if kind == "concurrency":
        lowered = lowered_concurrency(state.concurrency(limits))
        await redis.set(keys.lowered_concurrency, lowered, ex=ADAPTIVE_MEMORY_SECONDS)
        # Vocobase may have changed the partner's limit: read it again on the next tick
        # (unless it was read just now, judging this 429).
        if not await redis.exists(keys.partner_reading):
            await redis.delete(keys.learned_concurrency)
        return
    factor = lowered_rate_factor(state.rate_factor)
    await redis.set(keys.lowered_rate, repr(factor), ex=ADAPTIVE_MEMORY_SECONDS)


class LimitStateCache:
    """This process's copy of the shared limit state, read again when it is a second old."""

    def __init__(self, ttl_seconds: float = STATE_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._state = LimitState()
        self._read_at = float("-inf")

    async def get(self, redis: Redis, keys: RedisKeys) -> LimitState:
        now = time.monotonic()
        if now - self._read_at >= self._ttl:
            self._state = await read_limit_state(redis, keys)
            self._read_at = now
        return self._state

    def forget(self) -> None:
        """Read again on next use (this process just changed the state)."""
        self._read_at = float("-inf")
