"""Helpers for the control tests: schedulers taking part in the election."""

from __future__ import annotations

from sqlalchemy import update

from campaign_engine.control.leadership import Leadership
from campaign_engine.db.models import Contact
from campaign_engine.runtime import Runtime
from tests.dialer.support import NUMBERS, running_campaign

LEASE = 5.0


def candidate(runtime: Runtime, holder: str, lease: float = LEASE) -> Leadership:
    return Leadership(
        runtime.redis, runtime.keys, runtime.sessions, lease_seconds=lease, holder=holder
    )


async def lose_lease(runtime: Runtime) -> None:
    """The lease expires (a pause, a partition): the leader is not told."""
    await runtime.redis.delete(runtime.keys.scheduler_lease)


async def finished_campaign(runtime: Runtime) -> str:
    """A running campaign whose contacts are all final: the next completion completes it."""
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.campaign_id == campaign_id).values(state="completed")
        )
    return campaign_id
