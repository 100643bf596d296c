"""Pause, resume and cancel from the console: the campaign service's moves, audited.

Pausing and canceling withdraw the campaign's queued jobs: the database first (inside the
caller's transaction), then Redis via :func:`withdraw` once that transaction committed.
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns import service
from campaign_engine.campaigns.withdraw import queued_jobs, remove_jobs, unqueue
from campaign_engine.keys import RedisKeys
from campaign_engine.ops.audit import record

ACTIONS = ("pause", "resume", "cancel")


async def control(
    session: AsyncSession,
    keys: RedisKeys,
    campaign_id: str,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
) -> list[str]:
    """Do ``action`` on the campaign; the ids of the dial jobs to take out of Redis."""
    jobs: list[str] = []
    if action == "pause":
        await service.pause_campaign(session, campaign_id, actor=actor, reason=reason or "paused")
        jobs = await unqueue(session, keys, campaign_id, "campaign paused")
    elif action == "resume":
        await service.resume_campaign(session, campaign_id, actor=actor, reason=reason or "resumed")
    elif action == "cancel":
        jobs = await queued_jobs(session, keys, campaign_id)
        await service.cancel_campaign(
            session, campaign_id, actor=actor, reason=reason or "canceled"
        )
    else:
        raise ValueError(f"unknown campaign action {action!r}; expected one of {ACTIONS}")
    await record(
        session,
        actor=actor,
        action=action,
        target_type="campaign",
        target_id=campaign_id,
        # One job id per queued contact (the jobs carrying them are named after one each).
        details={"reason": reason, "contacts_withdrawn": len(jobs)},
    )
    return jobs


async def withdraw(redis: Redis, keys: RedisKeys, jobs: list[str]) -> int:
    """Take the jobs out of the queue; a job left behind finds nothing to do."""
    return await remove_jobs(redis, keys, jobs) if jobs else 0
