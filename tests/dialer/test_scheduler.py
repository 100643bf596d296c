"""The scheduler on a real database and Redis: queueing, recovery after Redis loss,
hand-backs for paused campaigns, and completion."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from campaign_engine.campaigns import service
from campaign_engine.campaigns.lifecycle import transition
from campaign_engine.contacts.store import insert_batch
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Contact, utcnow
from campaign_engine.dialer import attempts
from campaign_engine.dialer.dial import dial_contacts
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import load_targets
from campaign_engine.limits.plan import slot_names_for
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
from tests.harness import AGENT_ID, sim_config


@pytest.fixture
async def runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    async with open_runtime(sqlite_url, redis_prefix) as opened:
        yield opened


async def claim(runtime: Runtime, contact_id: int) -> int:
    async with runtime.sessions() as session:
        (target,) = await load_targets(session, [contact_id])
    async with runtime.sessions() as session, session.begin():
        claimed = await attempts.claim(session, [target], margin_seconds=120)
    return claimed[contact_id]


async def test_due_contacts_of_running_campaigns_are_queued_and_enqueued_up_to_the_batch_size(
    database_url: str, redis_prefix: str
) -> None:
    async with open_runtime(
        database_url, redis_prefix, scheduler={"batch_size": 3}, dialer={"contacts_per_job": 2}
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


async def test_a_contact_queued_too_long_is_enqueued_again_once(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    scheduler = Scheduler(runtime)
    assert await scheduler.enqueue_due() == 1
    (contact,) = await contacts_of(runtime, campaign_id)
    (lost,) = await queued_job_ids(runtime)
    await runtime.redis.delete(runtime.keys.queue, f"arq:job:{lost}")
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Contact).values(queued_at=ago(3600)))

    assert await scheduler.requeue_stale() == 1
    (job_id,) = await queued_job_ids(runtime)
    # A fresh id: the old one may still be held by a dead worker's in-progress job.
    assert job_id.startswith(runtime.keys.dial_job_id(contact.id, 1) + ":") and job_id != lost
    assert await scheduler.requeue_stale() == 0


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
