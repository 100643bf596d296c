"""Reading the limiter's own keys into room: what each limit can start soon (real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from campaign_engine.dialer.dispatch import rate_name, slot_name
from campaign_engine.dialer.room import read_room
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.limiter import Limiter
from campaign_engine.limits.plan import LimitPlan, RateLimit, SlotLimit
from tests.conftest import TEST_REDIS_URL

PLAN = LimitPlan((RateLimit("key", 1000, 1),), (SlotLimit("partner", 3),))


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def test_unused_limits_have_their_whole_room(redis: Redis, redis_prefix: str) -> None:
    room = await read_room(redis, RedisKeys(redis_prefix), [PLAN], ahead_ms=2000)
    # A rate of one a second: one now and two more within 2 s; three free slots.
    assert room == {rate_name("key"): 3, slot_name("partner"): 3}


async def test_taken_tokens_and_held_leases_use_the_room_up(
    redis: Redis, redis_prefix: str
) -> None:
    keys = RedisKeys(redis_prefix)
    limiter = Limiter(redis, keys)
    granted = await limiter.acquire_many(PLAN, ["a:1", "b:1"], 60_000)
    assert len(granted.granted) == 1  # a burst of one: the second waits a second

    room = await read_room(redis, keys, [PLAN], ahead_ms=2000)

    assert room == {rate_name("key"): 2, slot_name("partner"): 2}


async def test_every_limit_has_no_room_while_the_fleet_cools_down(
    redis: Redis, redis_prefix: str
) -> None:
    keys = RedisKeys(redis_prefix)
    await Limiter(redis, keys).cool_down(5)

    room = await read_room(redis, keys, [PLAN], ahead_ms=2000)

    assert room == {rate_name("key"): 0, slot_name("partner"): 0}
