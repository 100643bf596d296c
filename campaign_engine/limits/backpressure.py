"""What a 429 from Vocobase does, whoever was refused: a call start, a poll of ``GET /calls``
or a read of ``GET /calls/concurrency`` — they share one request budget, so they share the
consequence. The whole fleet cools down (``Retry-After`` when Vocobase sends one) and the
limit that was hit is lowered a step (:mod:`~campaign_engine.limits.adaptive`); polls then
take their tokens under the same lowered rate as starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis

from campaign_engine.config import Settings
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.adaptive import LimitStateCache, after_rate_limited
from campaign_engine.limits.limiter import Limiter
from campaign_engine.limits.plan import LimitPlan, poll_plan
from campaign_engine.vocobase.errors import RateLimited

log = logging.getLogger(__name__)


class LimitResources(Protocol):
    """What back-pressure needs of a process: its settings, Redis, limiter and the cached
    limit state."""

    @property
    def settings(self) -> Settings: ...
    @property
    def redis(self) -> Redis: ...
    @property
    def keys(self) -> RedisKeys: ...
    @property
    def limiter(self) -> Limiter: ...
    @property
    def limit_state(self) -> LimitStateCache: ...


async def after_refusals(runtime: LimitResources, refusals: Sequence[RateLimited]) -> float:
    """Cool the fleet down and lower the limits these 429s hit; the cooldown in seconds."""
    limits = runtime.settings.limits
    cooldown = max(exc.retry_after or limits.cooldown_seconds for exc in refusals)
    await runtime.limiter.cool_down(cooldown)
    for kind in sorted({exc.kind for exc in refusals}):
        await after_rate_limited(runtime.redis, runtime.keys, limits, kind)
        log.warning("429 (%s) from Vocobase: fleet cools down %.1fs", kind, cooldown)
    runtime.limit_state.forget()
    return cooldown


async def current_poll_plan(runtime: LimitResources) -> LimitPlan:
    """The limits a poll must pass now: its share of the ``/calls/*`` budget, lowered as
    the starts' is after rate 429s."""
    settings = runtime.settings
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    return poll_plan(settings.limits, settings.scheduler.reconcile_budget_share, state.rate_factor)
