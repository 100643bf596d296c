"""The scheduler on a real database and Redis: queueing, recovery after Redis loss,
hand-backs for paused campaigns, and completion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from arq.jobs import Job
from sqlalchemy import update

from campaign_engine.campaigns import service
from campaign_engine.campaigns.lifecycle import transition
from campaign_engine.contacts.store import insert_batch
from campaign_engine.control import campaign_moves
from campaign_engine.control.fencing import NotLeader
from campaign_engine.control.leadership import Leadership
from campaign_engine.db.models import Campaign, Contact, utcnow
from campaign_engine.dialer import attempts
from campaign_engine.dialer import claim as claim_module
from campaign_engine.dialer.dial import dial_contacts
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import load_targets
from campaign_engine.limits.plan import LimitPlan, SlotLimit, provider_key, slot_names_for
from campaign_engine.ops import actions
from campaign_engine.runtime import Runtime
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.states import AttemptState, CampaignState, ContactState
from tests.conftest import engine_settings
from tests.dialer.support import (
    NUMBERS,
    ago,
    attempts_of,
    campaign_of,
    contacts_of,
    events_of,
    jobs_in_queue,
    lose_redis,
    open_runtime,
    queued_job_ids,
    rows,
    running_campaign,
)
from tests.harness import AGENT_ID, sim_config, wait_until

# A key rate that never binds unless a test says so (the default, 10 a minute, lets one
# start through within the dispatch horizon).
FAST_KEY = {"vocobase": {"calls_per_minute": 6000}}


@pytest.fixture
async def runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    async with open_runtime(sqlite_url, redis_prefix, limits=FAST_KEY) as opened:
        yield opened


async def claim(runtime: Runtime, contact_id: int) -> int:
    async with runtime.sessions() as session:
        (target,) = await load_targets(session, [contact_id])
    async with runtime.sessions() as session, session.begin():
        claimed = await claim_module.claim(session, [target], margin_seconds=120)
    return claimed[contact_id]


async def test_due_contacts_of_running_campaigns_are_queued_and_enqueued_up_to_the_batch_size(
    database_url: str, redis_prefix: str
) -> None:
    async with open_runtime(
        database_url,
        redis_prefix,
        scheduler={"batch_size": 3},
        dialer={"contacts_per_job": 2},
        limits=FAST_KEY,
    ) as runtime:
        due = await running_campaign(runtime, NUMBERS[:5])
        later = await running_campaign(runtime, NUMBERS[:2], due_at=utcnow().replace(year=2100))
        paused = await running_campaign(runtime, NUMBERS[:2])
        async with runtime.sessions() as session, session.begin():
            await campaign_moves.pause(session, paused, keys=runtime.keys, actor="tester")
            draft = await service.create_campaign(session, name="draft", agent_id=AGENT_ID)
            await insert_batch(session, draft.id, rows(NUMBERS[:2]), due_at=utcnow())
        scheduler = Scheduler(runtime)

        assert await scheduler.enqueue_due() == 3
        contacts = await contacts_of(runtime, due)
        queued = [c for c in contacts if c.state == ContactState.QUEUED]
        assert len(queued) == 3
        assert all(c.queued_at is not None for c in queued)
        # Two contacts per job, each job named after its first contact's attempt.
        jobs = await jobs_in_queue(runtime)
        assert sorted(len(carried) for carried in jobs.values()) == [1, 2]
        assert sorted(i for carried in jobs.values() for i in carried) == [c.id for c in queued]
        assert {job.rpartition(":")[0] for job in jobs} == {
            runtime.keys.dial_job_id(carried[0], 1) for carried in jobs.values()
        }
        for other in (later, paused, draft.id):
            assert {c.state for c in await contacts_of(runtime, other)} == {ContactState.PENDING}

        # The queue depth is bounded: nothing more while three are still queued.
        assert await scheduler.enqueue_due() == 0
        await claim(runtime, queued[0].id)
        assert await scheduler.enqueue_due() == 1
        states = [c.state for c in await contacts_of(runtime, due)]
        assert states.count(ContactState.QUEUED) == 3
        assert states.count(ContactState.PENDING) == 1


async def test_a_contact_queued_too_long_goes_back_to_waiting_and_is_dispatched_again_once(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 1
    (contact,) = await contacts_of(runtime, campaign_id)
    (lost,) = await queued_job_ids(runtime)
    await runtime.redis.delete(runtime.keys.queue, f"arq:job:{lost}")
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Contact).values(queued_at=ago(3600)))

    assert await scheduler.requeue_stale() == 1
    # Nothing enqueued as a copy: the contact waits in the database for the next dispatch.
    assert await queued_job_ids(runtime) == set()
    (waiting,) = await contacts_of(runtime, campaign_id)
    assert (waiting.state, waiting.queued_at) == (ContactState.PENDING, None)
    assert await scheduler.requeue_stale() == 0

    assert await scheduler.enqueue_due() == 1
    (job_id,) = await queued_job_ids(runtime)
    # A fresh id: the old one may still be held by a dead worker's in-progress job.
    assert job_id.startswith(runtime.keys.dial_job_id(contact.id, 1) + ":") and job_id != lost
    assert await scheduler.enqueue_due() == 0


async def test_after_redis_loses_everything_the_next_tick_rebuilds_leases_and_requeues(
    runtime: Runtime, redis_prefix: str
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:3], max_concurrent=5)
    scheduler = Scheduler(runtime)
    stats = await scheduler.tick()
    assert stats.enqueued == 3
    in_call, in_request, waiting = await contacts_of(runtime, campaign_id)
    started = await claim(runtime, in_call.id)
    async with runtime.sessions() as session, session.begin():
        await attempts.mark_started(session, started, call_id="call-1", session_id="session-1")
    await claim(runtime, in_request.id)

    assert await lose_redis(redis_prefix) > 0
    stats = await scheduler.tick()

    assert stats.rebuilt_leases == 2
    now_ms = int(utcnow().timestamp() * 1000)
    for name in slot_names_for("mcube", campaign_id):
        leases = dict(await runtime.redis.zrange(runtime.keys.slots(name), 0, -1, withscores=True))
        assert set(leases) == {f"{in_call.id}:1".encode(), f"{in_request.id}:1".encode()}
        # Held until the call's deadline (agent max duration + margin), not a moment less.
        assert all(score > now_ms + 600_000 for score in leases.values())
        assert await runtime.limiter.in_use(name) == 2
    (job_id,) = await queued_job_ids(runtime)
    assert job_id.startswith(runtime.keys.dial_job_id(waiting.id, 1))
    states = {a.contact_id: a.state for a in await attempts_of(runtime, campaign_id)}
    assert states == {in_call.id: AttemptState.STARTED, in_request.id: AttemptState.DIALING}

    # Rebuilt once: the next tick finds the sentinel and changes nothing.
    assert (await scheduler.tick()).rebuilt_leases == 0
    (job_id,) = await queued_job_ids(runtime)
    assert job_id.startswith(runtime.keys.dial_job_id(waiting.id, 1))


async def test_a_paused_campaigns_queued_job_hands_the_contact_back_without_dialing(
    runtime: Runtime, redis_prefix: str
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 1
    async with runtime.sessions() as session, session.begin():
        # Paused in the database only: a job that slipped past the withdrawal still runs.
        await transition(session, campaign_id, CampaignState.PAUSED, actor="tester")
    (contact,) = await contacts_of(runtime, campaign_id)

    assert await dial_contacts({"runtime": runtime}, [contact.id]) == {"campaign-not-running": 1}

    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.PENDING
    assert contact.attempts_count == 0
    assert contact.queued_at is None
    assert contact.last_error == "campaign paused"
    assert await attempts_of(runtime, campaign_id) == []
    limit_keys = [k async for k in runtime.redis.scan_iter(match=f"{redis_prefix}:limit:*")]
    assert limit_keys == []

    # A paused campaign's contacts are not queued again until it resumes.
    assert await scheduler.enqueue_due() == 0
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="tester")
    assert await scheduler.enqueue_due() == 1


async def test_a_running_campaign_completes_when_all_its_contacts_are_final(
    runtime: Runtime,
) -> None:
    done = await running_campaign(runtime, NUMBERS[:2])
    open_one = await running_campaign(runtime, NUMBERS[:2])
    paused = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, paused, keys=runtime.keys, actor="tester")
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id.in_([done, paused]))
            .values(state=ContactState.EXHAUSTED.value)
        )
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == open_one, Contact.phone_e164 == NUMBERS[0])
            .values(state=ContactState.COMPLETED.value)
        )
    scheduler = Scheduler(runtime)

    stats = await scheduler.tick()

    assert stats.completed == [done]
    campaign = await campaign_of(runtime, done)
    assert campaign.state == "completed"
    assert campaign.finished_at is not None
    last = (await events_of(runtime, done))[-1]
    assert (last.from_state, last.to_state) == ("running", "completed")
    assert (last.actor, last.reason) == ("scheduler", "all contacts final")
    assert (await campaign_of(runtime, open_one)).state == "running"
    assert (await campaign_of(runtime, paused)).state == "paused"

    assert (await scheduler.tick()).completed == []
    assert len(await events_of(runtime, done)) == 2  # started, completed


async def test_a_contact_handed_back_while_its_job_still_runs_is_enqueued_again_not_refused(
    runtime: Runtime,
) -> None:
    """No slot or a 429 hands a contact back under the same attempt number while the job
    that carried it may still be running (arq still holds that job's id)."""
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 1
    (running_job,) = await queued_job_ids(runtime)
    (contact,) = await contacts_of(runtime, campaign_id)
    async with runtime.sessions() as session, session.begin():
        (target,) = await load_targets(session, [contact.id])
        assert await attempts.hand_back(session, [target], reason=None) == 1

    assert await scheduler.enqueue_due() == 1

    jobs = await jobs_in_queue(runtime)
    assert len(jobs) == 2 and running_job in jobs
    assert list(jobs.values()) == [[contact.id], [contact.id]]


async def test_the_learned_partner_concurrency_is_in_force_in_this_process_at_once(
    sqlite_url: str, redis_prefix: str
) -> None:
    # Dialing with the documented default (5) while the partner allows 3 would be refused.
    config = sim_config(concurrency=3)
    async with serve_in_background(config) as (sim_url, _):
        settings = engine_settings(
            sqlite_url, redis_prefix, base_url=sim_url, api_key=config.api_key
        )
        runtime = await Runtime.open(settings)
        try:
            before = await runtime.limit_state.get(runtime.redis, runtime.keys)
            await Scheduler(runtime).learn_concurrency()
            after = await runtime.limit_state.get(runtime.redis, runtime.keys)
        finally:
            await runtime.close()

    assert before.concurrency(settings.limits) == 5
    assert after.concurrency(settings.limits) == 3


def more_numbers(count: int, block: int = 1) -> list[str]:
    return [f"+919{block}{index:08d}" for index in range(count)]


async def redis_now_ms(runtime: Runtime) -> int:
    seconds, micros = await runtime.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def queued_count(runtime: Runtime, campaign_id: str) -> int:
    return sum(c.state == ContactState.QUEUED for c in await contacts_of(runtime, campaign_id))


async def set_priority_of(runtime: Runtime, campaign_id: str, priority: int) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(priority=priority)
        )


async def test_a_backlog_is_queued_only_as_far_as_its_limits_can_start_it_soon(
    runtime: Runtime,
) -> None:
    big = await running_campaign(runtime, more_numbers(50), provider="twilio")
    scheduler = Scheduler(runtime)

    # Twilio's 1 call/s (spaced 1.01 s) lets 2 through within the 2 s horizon; the
    # partner's 5 slots would allow more.
    assert await scheduler.enqueue_due() == 2
    assert await scheduler.enqueue_due() == 0  # those queued use that room up
    assert await queued_count(runtime, big) == 2
    jobs = await jobs_in_queue(runtime)
    assert sum(len(carried) for carried in jobs.values()) == 2


async def test_nothing_is_queued_for_a_campaign_whose_limits_have_no_room(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:4], max_concurrent=2)
    plan = LimitPlan((), tuple(SlotLimit(n, 5) for n in slot_names_for("mcube", campaign_id)))
    for lease in ("x:1", "y:1"):  # two calls of its own fill its concurrency
        assert (await runtime.limiter.acquire(plan, lease, 600_000)).granted
    scheduler = Scheduler(runtime)

    assert await scheduler.enqueue_due() == 0
    assert await queued_job_ids(runtime) == set()
    await runtime.limiter.release(slot_names_for("mcube", campaign_id), "x:1")
    assert await scheduler.enqueue_due() == 1


async def test_a_freed_slot_is_dispatched_at_once_not_at_the_next_round(
    database_url: str, redis_prefix: str
) -> None:
    # Rounds on a timer an hour apart: only the release itself can bring the next one.
    hourly = {"tick_seconds": 3600, "dispatch_seconds": 3600}
    async with open_runtime(
        database_url, redis_prefix, limits=FAST_KEY, scheduler=hourly
    ) as runtime:
        campaign_id = await running_campaign(runtime, NUMBERS[:4], max_concurrent=2)
        names = slot_names_for("mcube", campaign_id)
        plan = LimitPlan((), tuple(SlotLimit(n, 5) for n in names))
        for lease in ("x:1", "y:1"):  # two calls of its own fill its concurrency
            assert (await runtime.limiter.acquire(plan, lease, 600_000)).granted
        scheduler = Scheduler(runtime)
        running = asyncio.create_task(scheduler.run())
        try:
            await asyncio.sleep(0.5)  # the first rounds: no room, nothing queued
            assert await queued_count(runtime, campaign_id) == 0

            await runtime.limiter.release(names, "x:1")

            async def one_queued() -> bool:
                return await queued_count(runtime, campaign_id) == 1

            await wait_until(one_queued, 30, "the freed slot's contact to be queued")
        finally:
            scheduler.stop()
            await running


async def test_campaigns_sharing_limits_share_them_by_priority(
    sqlite_url: str, redis_prefix: str
) -> None:
    limits = {"vocobase": {"calls_per_minute": 6000, "concurrency": 12}}
    async with open_runtime(sqlite_url, redis_prefix, limits=limits) as runtime:
        first = await running_campaign(runtime, more_numbers(40, 1))
        second = await running_campaign(runtime, more_numbers(40, 2))
        equal = await running_campaign(runtime, more_numbers(40, 3))
        await set_priority_of(runtime, first, 2)

        # The partner's 12 slots bind: shared 2:1:1.
        assert await Scheduler(runtime).enqueue_due() == 12
        counts = [await queued_count(runtime, c) for c in (first, second, equal)]
        assert counts == [6, 3, 3]


async def test_a_campaign_on_an_idle_provider_is_not_held_back_by_a_backlog_elsewhere(
    runtime: Runtime,
) -> None:
    big = await running_campaign(runtime, more_numbers(500), provider="twilio")
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 2
    # Twilio's rate is taken far ahead (its backlog's calls went out in a burst).
    twilio = runtime.keys.rate(provider_key("twilio"))
    await runtime.redis.set(twilio, await redis_now_ms(runtime) + 60_000)
    small = await running_campaign(runtime, more_numbers(3, 4), provider="exotel")

    assert await scheduler.enqueue_due() == 3  # every one: the partner's 5 slots allow it
    assert await queued_count(runtime, small) == 3
    assert await queued_count(runtime, big) == 2


async def test_the_queue_never_holds_more_than_its_bound(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with open_runtime(
        sqlite_url, redis_prefix, limits=FAST_KEY, scheduler={"queue_bound_factor": 0.4}
    ) as runtime:
        await running_campaign(runtime, more_numbers(10, 1))
        await running_campaign(runtime, more_numbers(10, 2))
        scheduler = Scheduler(runtime)

        # 0.4 x the partner's 5 slots.
        assert await scheduler.enqueue_due() == 2
        assert await scheduler.enqueue_due() == 0


async def test_a_call_now_is_queued_ahead_of_the_backlog_in_a_job_of_its_own(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(
        runtime, more_numbers(20), provider="twilio", due_at=ago(600)
    )
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 2  # the backlog takes twilio's room
    urgent = (await contacts_of(runtime, campaign_id))[-1]
    async with runtime.sessions() as session, session.begin():
        await actions.retry_now(session, urgent.id, actor="ops")

    # Its lane is not filled by the backlog already queued: it goes at once.
    assert await scheduler.enqueue_due() == 1
    jobs = await jobs_in_queue(runtime)
    assert [carried for carried in jobs.values() if urgent.id in carried] == [[urgent.id]]
    assert await runtime.redis.exists(runtime.keys.urgent_pending)
    job_id = next(job for job, carried in jobs.items() if urgent.id in carried)
    info = await Job(job_id, runtime.redis, _queue_name=runtime.keys.queue).info()
    assert info is not None and info.kwargs == {"urgent": True}


async def test_a_call_now_mark_lasts_until_its_contact_is_claimed(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    first, second = await contacts_of(runtime, campaign_id)
    async with runtime.sessions() as session, session.begin():
        for contact in (first, second):
            await actions.retry_now(session, contact.id, actor="ops")
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 2
    await claim(runtime, first.id)

    assert await scheduler.forget_answered_call_nows() == 1
    first, second = await contacts_of(runtime, campaign_id)
    assert first.call_now_at is None  # dialing: its next retry waits its turn
    assert second.call_now_at is not None  # still queued: still in the lane


async def test_a_scheduler_that_does_not_lead_queues_nothing_and_the_leader_queues_once(
    database_url: str, redis_prefix: str
) -> None:
    async with open_runtime(database_url, redis_prefix, limits=FAST_KEY) as opened:
        campaign_id = await running_campaign(opened, NUMBERS[:3])

        def elected(holder: str) -> Leadership:
            return Leadership(
                opened.redis, opened.keys, opened.sessions, lease_seconds=5, holder=holder
            )

        leader, standby = elected("a:1"), elected("b:2")
        assert await leader.acquire() and not await standby.acquire()

        with pytest.raises(NotLeader):
            await Scheduler(opened, standby).enqueue_due()
        assert {c.state for c in await contacts_of(opened, campaign_id)} == {"pending"}
        assert await queued_job_ids(opened) == set()

        assert await Scheduler(opened, leader).enqueue_due() == 3
        assert len(await queued_job_ids(opened)) == 1
