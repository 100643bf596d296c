"""Pausing takes effect within seconds: queued, not yet started dial jobs are withdrawn.

Two steps, in this order: the database first (the campaign's ``queued`` contacts go back to
waiting, committed), then Redis (their arq jobs leave the queue). A job that slips through
— already picked by a worker, or Redis unreachable — finds its contact not queued and does
nothing; calls already ringing finish and are recorded as usual.

The scheduler also withdraws what a paused campaign still has queued (the circuit breaker
pauses from inside a dial job, which cannot reach the other jobs).
"""

from __future__ import annotations

from collections.abc import Iterable

from arq.constants import job_key_prefix
from redis.asyncio import Redis
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.db.models import Campaign, Contact
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.keys import RedisKeys
from campaign_engine.states import CampaignState, ContactState, contact_guard

_UNQUEUEABLE = contact_guard([ContactState.QUEUED], ContactState.PENDING, ContactState.RETRYING)


async def unqueue(
    session: AsyncSession, keys: RedisKeys, campaign_id: str, reason: str
) -> list[str]:
    """Return the campaign's queued contacts to waiting; the job id each may lead.

    A dial job carries several contacts and is named after its first, so these ids name
    every job carrying them. They keep their ``next_attempt_at`` (they were due), so
    resuming queues them again.
    """
    result = await session.execute(
        update(Contact)
        .where(Contact.campaign_id == campaign_id, Contact.state.in_(_UNQUEUEABLE))
        .values(
            state=case(
                (Contact.attempts_count == 0, ContactState.PENDING.value),
                else_=ContactState.RETRYING.value,
            ),
            queued_at=None,
            last_error=reason,
            last_failure_kind=FailureKind.CAMPAIGN_NOT_RUNNING.value,
        )
        .returning(Contact.id, Contact.attempts_count)
        .execution_options(synchronize_session=False)
    )
    return [keys.dial_job_id(row.id, row.attempts_count + 1) for row in result.all()]


async def queued_jobs(session: AsyncSession, keys: RedisKeys, campaign_id: str) -> list[str]:
    """The job id each of the campaign's queued contacts may lead (before they are
    canceled)."""
    rows = await session.execute(
        select(Contact.id, Contact.attempts_count).where(
            Contact.campaign_id == campaign_id, Contact.state == ContactState.QUEUED.value
        )
    )
    return [keys.dial_job_id(row.id, row.attempts_count + 1) for row in rows.all()]


async def remove_jobs(redis: Redis, keys: RedisKeys, job_ids: Iterable[str]) -> int:
    """Take the jobs these leads name (``keys.dial_job_id``), however often and whenever
    they were enqueued, out of the arq queue."""
    wanted = set(job_ids)
    if not wanted:
        return 0
    members = [_text(item) for item in await redis.zrange(keys.queue, 0, -1)]
    doomed = [m for m in members if _lead(m) in wanted]
    if not doomed:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.queue, *doomed)
        pipe.delete(*(job_key_prefix + job_id for job_id in doomed))
        removed, _ = await pipe.execute()
    return int(removed)


def _lead(job_id: str) -> str:
    """The lead part of a dial job's id (``<lead>:<enqueued at>``): its first contact's."""
    base, sep, tail = job_id.rpartition(":")
    return base if sep and tail.isdigit() else job_id


def _text(item: bytes | str) -> str:
    return item.decode() if isinstance(item, bytes) else item


async def withdraw_paused(
    sessions: async_sessionmaker[AsyncSession], redis: Redis, keys: RedisKeys
) -> int:
    """Withdraw whatever paused campaigns still have queued; jobs removed."""
    async with sessions() as session, session.begin():
        paused = (
            await session.scalars(
                select(Campaign.id).where(Campaign.state == CampaignState.PAUSED.value)
            )
        ).all()
        job_ids: list[str] = []
        for campaign_id in paused:
            job_ids += await unqueue(session, keys, campaign_id, "campaign paused")
    return await remove_jobs(redis, keys, job_ids)
