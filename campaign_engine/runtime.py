"""The long-lived resources one engine process holds, opened once and closed once.

Worker, scheduler and server each take a :class:`Runtime`: one database engine, one Redis
pool, one pooled Vocobase client per process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign_engine.config import ConfigError, Settings
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.adaptive import LimitStateCache, read_limit_state
from campaign_engine.limits.limiter import Limiter
from campaign_engine.limits.plan import effective_concurrency
from campaign_engine.vocobase.client import VocobaseClient


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    return settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    keys: RedisKeys
    limiter: Limiter
    vocobase: VocobaseClient
    # Set on SIGTERM: jobs still waiting for a slot hand their contact back at once.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    limit_state: LimitStateCache = field(default_factory=LimitStateCache)

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        api_key = settings.vocobase.api_key.get_secret_value()
        if not api_key:
            raise ConfigError(
                "vocobase.api_key is not set: put it in the config file or in VOCOBASE_API_KEY"
            )
        engine = create_engine(settings.database.url, echo=settings.database.echo)
        redis = await create_pool(redis_settings(settings.redis.url))
        keys = RedisKeys(settings.redis.prefix)
        vocobase = VocobaseClient.from_settings(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            redis=redis,
            keys=keys,
            limiter=Limiter(redis, keys),
            vocobase=vocobase,
        )

    async def close(self) -> None:
        await self.vocobase.aclose()
        await self.redis.aclose()
        await self.engine.dispose()


async def partner_concurrency(settings: Settings, redis: Redis | None = None) -> int:
    """The partner concurrency the dialer would respect now: what Vocobase's answers taught
    the engine (kept in Redis), else the configured one; Redis unreachable: the configured
    one. The CLI (its own connection) and the API's preflight (the server's pool) ask here,
    so both plan with the same number."""
    own = redis is None
    client = Redis.from_url(settings.redis.url) if redis is None else redis
    try:
        state = await read_limit_state(client, RedisKeys(settings.redis.prefix))
        return state.concurrency(settings.limits)
    except (RedisError, OSError):
        return effective_concurrency(settings.limits, None)
    finally:
        if own:
            await client.aclose()
