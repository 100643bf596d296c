"""Helpers shared by the dialer tests: runtimes, campaigns and a lost Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from arq.jobs import Job
from redis.asyncio import Redis
from sqlalchemy import select, update

from campaign_engine.campaigns import service
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import CallAttempt, Campaign, CampaignEvent, Contact, utcnow
from campaign_engine.dialer.claim import claim
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import DialTarget, load_targets
from campaign_engine.limits.plan import LimitPlan, SlotLimit, slot_names_for
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.conftest import TEST_REDIS_URL, engine_settings
from tests.harness import AGENT_ID, Harness, quick_policy

NUMBERS = [f"+9197{index:08d}" for index in range(20)]


@asynccontextmanager
async def open_runtime(
    database_url: str, redis_prefix: str, **sections: Any
) -> AsyncIterator[Runtime]:
    """A runtime on the test database and Redis; Vocobase points at a closed port."""
    runtime = await Runtime.open(engine_settings(database_url, redis_prefix, **sections))
    try:
        yield runtime
    finally:
        await runtime.close()


def rows(numbers: list[str]) -> list[Accepted]:
    return [
        Accepted(i + 2, number, "IN", ("Asia/Calcutta",), {"name": f"P{i}"})
        for i, number in enumerate(numbers)
    ]


async def running_campaign(
    runtime: Runtime,
    numbers: list[str],
    *,
    due_at: datetime | None = None,
    policy: RetryPolicy | None = None,
    **fields: Any,
) -> str:
    """A started campaign (not checked with Vocobase) with its contacts due at ``due_at``."""
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="test", agent_id=AGENT_ID, retry_policy=policy or quick_policy(), **fields
        )
        await insert_batch(session, campaign.id, rows(numbers), due_at=due_at or utcnow())
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None)
    return campaign.id


async def add_campaign(
    engine: Harness,
    numbers: list[str],
    *,
    policy: RetryPolicy | None = None,
    before_start: Callable[[], Awaitable[None] | None] | None = None,
    **fields: Any,
) -> str:
    """Like :meth:`Harness.add_campaign`, with a hook between the Vocobase check and start."""
    async with engine.runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="test", agent_id=AGENT_ID, retry_policy=policy or quick_policy(), **fields
        )
        await service.check_with_vocobase(campaign, engine.runtime.vocobase)
        await insert_batch(session, campaign.id, rows(numbers), due_at=utcnow())
    if before_start is not None:
        result = before_start()
        if result is not None:
            await result
    async with engine.runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign.id, None)
    return campaign.id


async def contacts_of(runtime: Runtime, campaign_id: str) -> list[Contact]:
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id)
        )
        return list(found.all())


async def attempts_of(runtime: Runtime, campaign_id: str) -> list[CallAttempt]:
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(CallAttempt)
            .where(CallAttempt.campaign_id == campaign_id)
            .order_by(CallAttempt.contact_id, CallAttempt.id)
        )
        return list(found.all())


async def campaign_of(runtime: Runtime, campaign_id: str) -> Campaign:
    async with runtime.sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


async def events_of(runtime: Runtime, campaign_id: str) -> list[CampaignEvent]:
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(CampaignEvent)
            .where(CampaignEvent.campaign_id == campaign_id)
            .order_by(CampaignEvent.id)
        )
        return list(found.all())


async def lose_redis(redis_prefix: str) -> int:
    """What a FLUSHALL does to this engine, without touching anyone else's keys."""
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        doomed = []
        for pattern in (f"{redis_prefix}:*", f"arq:*{redis_prefix}*"):
            doomed += [key async for key in client.scan_iter(match=pattern, count=1000)]
        if doomed:
            await client.delete(*doomed)
        return len(doomed)
    finally:
        await client.aclose()


async def queued_job_ids(runtime: Runtime) -> set[str]:
    raw = await runtime.redis.zrange(runtime.keys.queue, 0, -1)
    return {item.decode() if isinstance(item, bytes) else str(item) for item in raw}


async def jobs_in_queue(runtime: Runtime) -> dict[str, list[int]]:
    """Each dial job waiting in the queue, with the contact ids it carries."""
    jobs = {}
    for job_id in await queued_job_ids(runtime):
        info = await Job(job_id, runtime.redis, _queue_name=runtime.keys.queue).info()
        assert info is not None, job_id
        (contact_ids,) = info.args
        jobs[job_id] = list(contact_ids)
    return jobs


async def queue_every_due(runtime: Runtime, campaign_id: str) -> list[int]:
    """Every due contact of the campaign moved to ``queued``, as the scheduler would if the
    limits had room for all of them (a job's tests hand it more than the room)."""
    async with runtime.sessions() as session, session.begin():
        contacts = (
            await session.scalars(
                select(Contact).where(
                    Contact.campaign_id == campaign_id,
                    Contact.state.in_(["pending", "retrying"]),
                    Contact.next_attempt_at <= utcnow(),
                )
            )
        ).all()
        for contact in contacts:
            contact.state, contact.queued_at = "queued", utcnow()
        return sorted(contact.id for contact in contacts)


def ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)


async def claimed_attempt(runtime: Runtime, number: str = NUMBERS[0]) -> tuple[str, int]:
    """A running campaign with one contact whose first attempt is claimed, lease taken."""
    campaign_id = await running_campaign(runtime, [number])
    assert await Scheduler(runtime).enqueue_due() == 1
    (contact,) = await contacts_of(runtime, campaign_id)
    async with runtime.sessions() as session:
        (target,) = await load_targets(session, [contact.id])
    plan = LimitPlan((), tuple(SlotLimit(n, 5) for n in slot_names_for("mcube", campaign_id)))
    assert (await runtime.limiter.acquire(plan, target.lease, 600_000)).granted
    async with runtime.sessions() as session, session.begin():
        claimed = await claim(session, [target], margin_seconds=120)
    return campaign_id, claimed[contact.id]


async def queued_targets(runtime: Runtime, count: int) -> tuple[str, list[DialTarget]]:
    """A running campaign whose ``count`` contacts are queued; their dial targets."""
    campaign_id = await running_campaign(runtime, NUMBERS[:count])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id)
            .values(state=ContactState.QUEUED.value, queued_at=utcnow())
        )
    ids = [contact.id for contact in await contacts_of(runtime, campaign_id)]
    async with runtime.sessions() as session:
        return campaign_id, await load_targets(session, ids)
