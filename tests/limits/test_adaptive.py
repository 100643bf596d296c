"""Learning from 429s: the limit in force drops a step per 429 and comes back when they stop."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from campaign_engine.config import LimitSettings, VocobaseLimits
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.adaptive import after_rate_limited, read_limit_state
from campaign_engine.limits.plan import (
    ADAPTIVE_MEMORY_SECONDS,
    MIN_RATE_FACTOR,
    effective_concurrency,
    lowered_concurrency,
    lowered_rate_factor,
)

LIMITS = LimitSettings(vocobase=VocobaseLimits(concurrency="auto"))


def test_a_lowered_concurrency_caps_the_configured_and_learned_ones() -> None:
    assert effective_concurrency(LIMITS, learned=8, lowered=None) == 8
    assert effective_concurrency(LIMITS, learned=8, lowered=6) == 6
    assert effective_concurrency(LIMITS, learned=3, lowered=6) == 3
    assert effective_concurrency(LIMITS, learned=None, lowered=0) == 1


def test_each_step_lowers_but_never_to_nothing() -> None:
    assert lowered_concurrency(5) == 4
    assert lowered_concurrency(1) == 1
    assert lowered_rate_factor(None) == pytest.approx(0.8)
    assert lowered_rate_factor(0.8) == pytest.approx(0.64)
    assert lowered_rate_factor(MIN_RATE_FACTOR) == MIN_RATE_FACTOR


async def test_a_concurrency_429_lowers_the_limit_one_step_and_forces_relearning(
    redis: Redis, keys: RedisKeys
) -> None:
    await redis.set(keys.learned_concurrency, 5)
    await after_rate_limited(redis, keys, LIMITS, "concurrency")
    state = await read_limit_state(redis, keys)
    assert state.lowered_concurrency == 4
    assert state.learned_concurrency is None  # read GET /calls/concurrency again
    assert 0 < await redis.ttl(keys.lowered_concurrency) <= ADAPTIVE_MEMORY_SECONDS


async def test_many_workers_seeing_the_same_429_lower_the_limit_only_once(
    redis: Redis, keys: RedisKeys
) -> None:
    await redis.set(keys.learned_concurrency, 5)
    for _ in range(4):
        await after_rate_limited(redis, keys, LIMITS, "concurrency")
    assert (await read_limit_state(redis, keys)).lowered_concurrency == 4


async def test_a_rate_429_slows_the_request_rate_and_the_slowdown_expires(
    redis: Redis, keys: RedisKeys
) -> None:
    await after_rate_limited(redis, keys, LIMITS, "rate")
    state = await read_limit_state(redis, keys)
    assert state.rate_factor == pytest.approx(0.8)
    assert state.lowered_concurrency is None
    assert 0 < await redis.ttl(keys.lowered_rate) <= ADAPTIVE_MEMORY_SECONDS
    await redis.delete(keys.lowered_rate)  # what the expiry does when 429s stop
    assert (await read_limit_state(redis, keys)).rate_factor == 1.0
