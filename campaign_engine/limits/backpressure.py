"""What a 429 from Vocobase does, whoever was refused: a call start, a poll of ``GET /calls``
or a read of ``GET /calls/concurrency`` — they share one request budget, so they share the
consequence. The whole fleet cools down (``Retry-After`` when Vocobase sends one) and the
limit that was hit is lowered a step (:mod:`~campaign_engine.limits.adaptive`); polls then
take their tokens under the same lowered rate as starts.

Which limit was hit is judged from what the engine knows, never from the answer's words
(:mod:`~campaign_engine.limits.which_limit`): its own live calls against the concurrency in
force and, when those had room, one ``GET /calls/concurrency`` read shared by the fleet for
a few seconds (that read refused too means the request rate; none can be had without
overdrawing the budget, the same).
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
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, LimitPlan, poll_plan
from campaign_engine.limits.which_limit import START_PATH, PartnerReading, judge_refusal
from campaign_engine.vocobase.client import VocobaseClient
from campaign_engine.vocobase.errors import RateLimited, VocobaseError

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
    @property
    def vocobase(self) -> VocobaseClient: ...


# How long one GET /calls/concurrency answer serves every process judging a 429.
READING_TTL_MS = 3000
# The partner's limit read that way is used for this long (the scheduler reads it too).
LEARNED_TTL_SECONDS = 300


async def judge_refusals(runtime: LimitResources, refusals: Sequence[RateLimited]) -> None:
    """Set each 429's ``kind`` (rate or concurrency) from the engine's own counts."""
    unjudged = [exc for exc in refusals if exc.kind == "unknown"]
    starts = [exc for exc in unjudged if exc.path.rstrip("/").endswith(START_PATH)]
    for exc in unjudged:
        if exc not in starts:
            exc.kind = "rate"
    if not starts:
        return
    limits = runtime.settings.limits
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    held = await runtime.limiter.in_use(VOCOBASE_ACTIVE)
    limit = state.concurrency(limits)
    kind = judge_refusal(path=START_PATH, held=held, limit=limit)
    if kind == "rate":  # our own calls had room: was the account full?
        reading = await _partner_reading(runtime)
        kind = judge_refusal(path=START_PATH, held=held, limit=limit, partner=reading)
    for exc in starts:
        exc.kind = kind


async def _partner_reading(runtime: LimitResources) -> PartnerReading | None:
    """``GET /calls/concurrency`` as read in the last seconds by any process, else read now
    if the poll budget has a token; None when it cannot be had (the rate is then the limit
    more likely hit: the budget is spent)."""
    keys = runtime.keys
    cached = await runtime.redis.get(keys.partner_reading)
    if cached is not None:
        active, limit = (int(part) for part in _text(cached).split())
        return PartnerReading(active, limit)
    if not (await runtime.limiter.acquire(await current_poll_plan(runtime))).granted:
        return None
    try:
        answer = await runtime.vocobase.get_concurrency()
    except VocobaseError as exc:
        log.info("GET /calls/concurrency after a 429 failed: %s", exc)
        return None
    await runtime.redis.set(
        keys.partner_reading, f"{answer.active} {answer.limit}", px=READING_TTL_MS
    )
    await runtime.redis.set(keys.learned_concurrency, answer.limit, ex=LEARNED_TTL_SECONDS)
    return PartnerReading(answer.active, answer.limit)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def after_refusals(runtime: LimitResources, refusals: Sequence[RateLimited]) -> float:
    """Cool the fleet down and lower the limits these 429s hit; the cooldown in seconds."""
    limits = runtime.settings.limits
    await judge_refusals(runtime, refusals)
    cooldown = max(exc.retry_after or limits.cooldown_seconds for exc in refusals)
    await runtime.limiter.cool_down(cooldown)
    for kind in sorted({exc.kind for exc in refusals}):
        await after_rate_limited(runtime.redis, runtime.keys, limits, kind)
        log.warning("429 (%s) from Vocobase: fleet cools down %.1fs", kind, cooldown)
    runtime.limit_state.forget()
    return cooldown


async def current_poll_plan(runtime: LimitResources) -> LimitPlan:
    """The limits a poll must pass now: its share of the ``/calls/*`` budget, lowered as
    the starts' is after rate 429s — or the whole budget while every concurrency slot is
    taken: no start can use it then, and polls are what frees the slots."""
    settings = runtime.settings
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    share = settings.scheduler.reconcile_budget_share
    if await runtime.limiter.in_use(VOCOBASE_ACTIVE) >= state.concurrency(settings.limits):
        share = 1.0
    return poll_plan(settings.limits, share, state.rate_factor)
