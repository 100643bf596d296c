"""What the scheduler does for campaigns on every tick, before it queues due contacts.

In order: apply start and end dates (:mod:`~campaign_engine.control.calendar`), withdraw
what paused campaigns still have queued (:mod:`~campaign_engine.campaigns.withdraw`), run
the daily imports that are due (:mod:`~campaign_engine.campaigns.daily`), then set every
ongoing campaign that now has contacts to call running again
(:func:`~campaign_engine.control.campaign_moves.settle_ongoing`), so that the same tick
queues a pull's new rows. Each step reads only campaigns (a small table) and index ranges
of their contacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns.daily import run_daily_imports
from campaign_engine.campaigns.withdraw import withdraw_paused
from campaign_engine.control.calendar import advance_calendar
from campaign_engine.control.campaign_moves import settle_ongoing
from campaign_engine.keys import RedisKeys


@dataclass
class CampaignTick:
    moved: list[tuple[str, str]] = field(default_factory=list)
    withdrawn: int = 0
    imported: list[str] = field(default_factory=list)


async def run_campaign_steps(
    sessions: async_sessionmaker[AsyncSession], redis: Redis, keys: RedisKeys, now: datetime
) -> CampaignTick:
    tick = CampaignTick()
    async with sessions() as session, session.begin():
        tick.moved = await advance_calendar(session, now)
    tick.withdrawn = await withdraw_paused(sessions, redis, keys)
    tick.imported = await run_daily_imports(sessions, now)
    async with sessions() as session, session.begin():
        tick.moved += await settle_ongoing(session, now)
    return tick
