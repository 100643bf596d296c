"""Fixtures shared by the limits tests: the real Redis, under the test's own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from campaign_engine.keys import RedisKeys
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def keys(redis_prefix: str) -> RedisKeys:
    return RedisKeys(redis_prefix)
