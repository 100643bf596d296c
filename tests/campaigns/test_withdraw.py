"""Pause takes effect at once: queued jobs leave Redis and their contacts wait again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from campaign_engine.campaigns.withdraw import queued_jobs, remove_jobs
from campaign_engine.control import campaign_moves
from campaign_engine.dialer.dial import dial_contacts
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.runtime import Runtime
from tests.dialer.support import (
    NUMBERS,
    attempts_of,
    contacts_of,
    jobs_in_queue,
    open_runtime,
    queued_job_ids,
    running_campaign,
)


@pytest.fixture
async def runtime(database_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    """A key rate that lets these few contacts be queued at once (the default, 10 a
    minute, lets the scheduler queue one within its dispatch horizon)."""
    limits = {"vocobase": {"calls_per_minute": 6000}}
    async with open_runtime(database_url, redis_prefix, limits=limits) as opened:
        yield opened


async def pause_and_withdraw(runtime: Runtime, campaign_id: str) -> int:
    """What ``campaign pause`` does: the database first, then Redis."""
    async with runtime.sessions() as session, session.begin():
        moved = await campaign_moves.pause(
            session, campaign_id, keys=runtime.keys, actor="tester", reason="lunch"
        )
    return await campaign_moves.withdraw(runtime.redis, runtime.keys, moved.jobs)


async def job_keys(runtime: Runtime) -> list[bytes]:
    return [key async for key in runtime.redis.scan_iter(match=f"arq:job:{runtime.keys.prefix}:*")]


async def test_pausing_withdraws_queued_jobs_and_returns_their_contacts_to_waiting(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:3])
    other = await running_campaign(runtime, NUMBERS[3:5])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 5
    before = {c.id: c.next_attempt_at for c in await contacts_of(runtime, campaign_id)}

    assert await pause_and_withdraw(runtime, campaign_id) == 1  # one job carried all three

    contacts = await contacts_of(runtime, campaign_id)
    assert {(c.state, c.queued_at, c.last_error) for c in contacts} == {
        ("pending", None, "campaign paused")
    }
    assert {c.id: c.next_attempt_at for c in contacts} == before  # still due: resume requeues
    # The other campaign is untouched: its one job still carries both its contacts.
    (carried,) = (await jobs_in_queue(runtime)).values()
    assert sorted(carried) == [c.id for c in await contacts_of(runtime, other)]
    assert len(await job_keys(runtime)) == 1


async def test_a_withdrawn_job_that_still_runs_does_nothing(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    assert await Scheduler(runtime).enqueue_due() == 1
    # The job was already picked by a worker when the pause came.
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="tester")
    (contact,) = await contacts_of(runtime, campaign_id)

    assert await dial_contacts({"runtime": runtime}, [contact.id]) == {"not-queued": 1}
    assert await attempts_of(runtime, campaign_id) == []


async def test_resuming_queues_the_withdrawn_contacts_again(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 2
    await pause_and_withdraw(runtime, campaign_id)
    assert await scheduler.enqueue_due() == 0

    async with runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="tester")

    assert await scheduler.enqueue_due() == 2
    contacts = await contacts_of(runtime, campaign_id)
    (carried,) = (await jobs_in_queue(runtime)).values()
    assert sorted(carried) == [c.id for c in contacts]


async def test_a_job_enqueued_again_is_withdrawn_too(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 1
    (contact,) = await contacts_of(runtime, campaign_id)
    await scheduler._enqueue([(contact.id, 0)])  # what requeue_stale sends
    assert len(await queued_job_ids(runtime)) == 2

    assert await pause_and_withdraw(runtime, campaign_id) == 2
    assert await queued_job_ids(runtime) == set()
    assert await job_keys(runtime) == []


async def test_the_scheduler_withdraws_what_a_circuit_breaker_pause_left_queued(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:3])
    scheduler = Scheduler(runtime)
    await runtime.redis.set(runtime.keys.learned_concurrency, 5)
    assert (await scheduler.tick()).enqueued == 3
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause_for_error(session, campaign_id, "HTTP 401: bad key")

    stats = await scheduler.tick()

    assert stats.enqueued == 0
    assert await queued_job_ids(runtime) == set()
    assert {c.state for c in await contacts_of(runtime, campaign_id)} == {"pending"}


async def test_canceling_removes_the_queued_jobs_and_cancels_their_contacts(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    assert await Scheduler(runtime).enqueue_due() == 2
    async with runtime.sessions() as session, session.begin():
        jobs = await queued_jobs(session, runtime.keys, campaign_id)
        assert (
            await campaign_moves.cancel(session, campaign_id, keys=runtime.keys, actor="tester")
        ).contacts_closed == 2

    assert await remove_jobs(runtime.redis, runtime.keys, jobs) == 1  # the one job of both
    assert await queued_job_ids(runtime) == set()
    contacts = await contacts_of(runtime, campaign_id)
    assert {(c.state, c.last_error) for c in contacts} == {("canceled", "campaign canceled")}


async def test_withdrawing_nothing_touches_nothing(runtime: Runtime) -> None:
    assert await remove_jobs(runtime.redis, runtime.keys, []) == 0
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    assert await pause_and_withdraw(runtime, campaign_id) == 0
