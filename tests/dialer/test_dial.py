"""The dial job against the simulator: what a refused or raced start does to the contact."""

from __future__ import annotations

from collections import Counter

import pytest
from arq import Retry
from sqlalchemy import select, text, update

from campaign_engine.campaigns.outcome_classes import Outcome, classify
from campaign_engine.campaigns.retry_policy import RetryPolicy, policy_explains
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import CallAttempt, Contact, Suppression, WebhookEvent
from campaign_engine.db.session import create_engine
from campaign_engine.dialer.claim import claim
from campaign_engine.dialer.dial import dial_contacts, longest_wait
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import load_targets
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, LimitPlan, SlotLimit
from campaign_engine.simulator.ledger import Ledger
from campaign_engine.states import AttemptState, ContactState, InboxStatus
from tests.dialer.support import (
    NUMBERS,
    add_campaign,
    attempts_of,
    campaign_of,
    contacts_of,
    events_of,
    jobs_in_queue,
    open_runtime,
    queue_every_due,
    running_campaign,
)
from tests.harness import Harness, quick_policy, running_engine, sim_config, wait_until


def assert_dialed_as_outcomes_justify(
    ledger: Ledger, contacts: list[Contact], attempts: list[CallAttempt], policy: RetryPolicy
) -> None:
    """Each number was dialed exactly as often as its outcomes justify, and the engine's
    counted attempts are exactly the simulator's calls, in order."""
    for contact in contacts:
        placed = ledger.calls_to(contact.phone_e164)
        dialed = [classify(call.status, call.disposition) for call in placed]
        assert dialed, f"{contact.phone_e164} was never dialed"
        assert policy_explains(policy, dialed), (contact.phone_e164, dialed)
        counted = [
            a for a in attempts if a.contact_id == contact.id and a.state == AttemptState.ENDED
        ]
        assert [a.outcome for a in counted] == [outcome.value for outcome in dialed]
        assert [a.call_id for a in counted] == [call.call_id for call in placed]
        assert [a.attempt_number for a in counted] == list(range(1, len(placed) + 1))
        assert contact.attempts_count == len(placed)
        assert contact.state == ("completed" if dialed[-1] is Outcome.COMPLETED else "exhausted")


async def test_a_429_never_burns_an_attempt_and_the_contact_is_dialed_later(
    database_url: str, redis_prefix: str
) -> None:
    policy = quick_policy(max_attempts=3)
    simulator = sim_config(
        outcome_mix={"completed": 3, "busy": 1, "no_answer": 1}, talk_seconds=(10, 20)
    )
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": 5}, "cooldown_seconds": 0.2},
    ) as engine:
        runtime = engine.runtime

        async def learned() -> bool:
            return bool(await runtime.redis.exists(runtime.keys.learned_concurrency))

        await wait_until(learned, 10, "the engine to learn the partner concurrency")
        # Vocobase lowers the limit behind the engine's back: the engine still allows 5.
        engine.simulator.config.concurrency = 1
        campaign_id = await engine.add_campaign(NUMBERS[:6], policy=policy)
        await engine.run_to_completion(campaign_id, limit_seconds=60)
        contacts = await contacts_of(runtime, campaign_id)
        attempts = await attempts_of(runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert ledger.responses_429["concurrency"] > 0
    not_sent = [a for a in attempts if a.state == AttemptState.NOT_SENT]
    assert not_sent, "no start was refused with a 429"
    assert all("429" in (a.error or "") for a in not_sent)
    assert {a.state for a in attempts} == {AttemptState.ENDED, AttemptState.NOT_SENT}
    for attempt in not_sent:
        # The refused attempt's number is used again by the attempt that was really sent.
        assert any(
            a.contact_id == attempt.contact_id
            and a.attempt_number == attempt.attempt_number
            and a.state == AttemptState.ENDED
            for a in attempts
        )
    assert_dialed_as_outcomes_justify(ledger, contacts, attempts, policy)


async def test_a_403_for_the_provider_pauses_the_campaign_and_fails_no_contact(
    sqlite_url: str, redis_prefix: str
) -> None:
    policy = quick_policy()
    async with running_engine(sqlite_url, redis_prefix) as engine:
        runtime, sim = engine.runtime, engine.simulator

        def withdraw_provider() -> None:
            sim.config.allowed_providers = ["twilio"]

        campaign_id = await add_campaign(
            engine, NUMBERS[:3], policy=policy, before_start=withdraw_provider
        )

        async def paused_and_settled() -> bool:
            campaign = await campaign_of(runtime, campaign_id)
            contacts = await contacts_of(runtime, campaign_id)
            return campaign.state == "paused" and all(
                c.state == ContactState.PENDING for c in contacts
            )

        await wait_until(paused_and_settled, 20, "the campaign to pause and settle")
        campaign = await campaign_of(runtime, campaign_id)
        assert "403" in (campaign.state_reason or "")
        assert "provider not allowed" in (campaign.state_reason or "")
        pause = (await events_of(runtime, campaign_id))[-1]
        assert (pause.from_state, pause.to_state) == ("running", "paused")
        assert (pause.actor, pause.reason) == ("circuit-breaker", campaign.state_reason)
        contacts = await contacts_of(runtime, campaign_id)
        assert all(c.attempts_count == 0 for c in contacts)
        attempts = await attempts_of(runtime, campaign_id)
        assert attempts
        assert {a.state for a in attempts} == {AttemptState.NOT_SENT}
        assert sim.ledger.calls == []

        # Once the cause is fixed, resuming loses nothing.
        sim.config.allowed_providers = ["mcube"]
        async with runtime.sessions() as session, session.begin():
            await campaign_moves.resume(session, campaign_id, actor="tester")
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(runtime, campaign_id)
        attempts = await attempts_of(runtime, campaign_id)
        assert_dialed_as_outcomes_justify(sim.ledger, contacts, attempts, policy)


async def test_a_webhook_before_the_start_response_is_matched_and_recorded_once(
    database_url: str, redis_prefix: str
) -> None:
    policy = quick_policy(max_attempts=3)
    simulator = sim_config(early_webhook=True, outcome_mix={"busy": 1})
    async with running_engine(database_url, redis_prefix, simulator=simulator) as engine:
        runtime = engine.runtime
        campaign_id = await engine.add_campaign(NUMBERS[:3], policy=policy)
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(runtime, campaign_id)
        attempts = await attempts_of(runtime, campaign_id)
        async with runtime.sessions() as session:
            events = list((await session.scalars(select(WebhookEvent))).all())
        ledger = engine.simulator.ledger

    assert len(ledger.calls) == 9
    assert all(call.webhook_deliveries == 1 for call in ledger.calls)
    assert_dialed_as_outcomes_justify(ledger, contacts, attempts, policy)
    by_call = {a.call_id: a for a in attempts}
    for call in ledger.calls:
        # The correlation variable the agent declares carried this attempt's id.
        assert call.variables["ce_attempt_id"] == str(by_call[call.call_id].id)
    applied = Counter(e.attempt_id for e in events if e.status == InboxStatus.APPLIED)
    assert applied == Counter({a.id: 1 for a in attempts})
    assert {e.status for e in events} <= {InboxStatus.APPLIED, InboxStatus.IGNORED}
    assert all(a.state == AttemptState.ENDED and a.outcome == "busy" for a in attempts)


async def test_a_job_that_finds_no_free_slot_hands_the_contact_back_without_claiming(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with open_runtime(
        sqlite_url,
        redis_prefix,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": 1}},
        dialer={"max_wait_seconds": 0.3},
    ) as runtime:
        campaign_id = await running_campaign(runtime, NUMBERS[:1])
        assert await Scheduler(runtime).enqueue_due() == 1
        holder = LimitPlan((), (SlotLimit(VOCOBASE_ACTIVE, 1),))
        assert (await runtime.limiter.acquire(holder, "someone-else", 60_000)).granted
        (contact,) = await contacts_of(runtime, campaign_id)

        assert await dial_contacts({"runtime": runtime}, [contact.id]) == {"no-slot": 1}

        (contact,) = await contacts_of(runtime, campaign_id)
        assert contact.state == ContactState.PENDING
        assert contact.attempts_count == 0
        assert await attempts_of(runtime, campaign_id) == []
        assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 1


async def test_a_job_whose_campaign_pauses_before_its_claim_hands_the_contact_back(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with open_runtime(sqlite_url, redis_prefix) as runtime:
        campaign_id = await running_campaign(runtime, NUMBERS[:1])
        assert await Scheduler(runtime).enqueue_due() == 1
        (contact,) = await contacts_of(runtime, campaign_id)
        async with runtime.sessions() as session:
            (target,) = await load_targets(session, [contact.id])
        assert target.campaign_state == "running"
        # The job read a running campaign, then waited for a slot; meanwhile it paused.
        async with runtime.sessions() as session, session.begin():
            await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="tester")

        async with runtime.sessions() as session, session.begin():
            assert await claim(session, [target], margin_seconds=120) == {}

        (contact,) = await contacts_of(runtime, campaign_id)
        assert contact.state == ContactState.PENDING
        assert contact.attempts_count == 0
        assert contact.last_error == "campaign paused"
        assert await attempts_of(runtime, campaign_id) == []


async def queued_batch(engine: Harness, campaign_id: str) -> list[int]:
    """Queue the campaign's due contacts as the scheduler does; the one job's contact ids."""
    await Scheduler(engine.runtime).enqueue_due()
    (carried,) = (await jobs_in_queue(engine.runtime)).values()
    return carried


async def test_a_job_starts_as_many_of_its_contacts_as_the_limits_have_room_for_together(
    database_url: str, redis_prefix: str
) -> None:
    """Room for two calls: two start at once, the other two are handed back unclaimed."""
    simulator = sim_config(concurrency=10, talk_seconds=(1000, 1000), outcome_mix={"completed": 1})
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        with_scheduler=False,
        limits={
            "vocobase": {"calls_per_minute": 6000, "concurrency": 2},
            # High enough for a burst: both starts go in one wave.
            "providers": {"mcube": {"calls_per_second": 1000}},
        },
        dialer={"max_wait_seconds": 0.5},
    ) as engine:
        runtime = engine.runtime
        campaign_id = await engine.add_campaign(NUMBERS[:4])
        # More than the room (the scheduler queues only what fits: a stale reading could
        # still hand a job more).
        carried = await queue_every_due(runtime, campaign_id)
        assert len(carried) == 4

        assert await dial_contacts({"runtime": runtime}, carried) == {"started": 2, "no-slot": 2}

        contacts = await contacts_of(runtime, campaign_id)
        attempts = await attempts_of(runtime, campaign_id)
        assert sorted(c.state for c in contacts) == ["calling", "calling", "pending", "pending"]
        assert [a.state for a in attempts] == [AttemptState.STARTED] * 2
        placed = {call.call_id for call in engine.simulator.ledger.calls}
        assert {a.call_id for a in attempts} == placed
        assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 2


async def test_a_job_closes_the_suppressed_skips_what_is_not_queued_and_dials_the_rest(
    database_url: str, redis_prefix: str
) -> None:
    simulator = sim_config(talk_seconds=(1000, 1000), outcome_mix={"completed": 1})
    async with running_engine(
        database_url, redis_prefix, simulator=simulator, with_worker=False, with_scheduler=False
    ) as engine:
        runtime = engine.runtime
        campaign_id = await engine.add_campaign(NUMBERS[:4])
        carried = await queued_batch(engine, campaign_id)
        by_number = {c.phone_e164: c for c in await contacts_of(runtime, campaign_id)}
        async with runtime.sessions() as session, session.begin():
            session.add(Suppression(kind="number", pattern=NUMBERS[0], reason="asked not to"))
            await session.execute(
                update(Contact)
                .where(Contact.id == by_number[NUMBERS[1]].id)
                .values(state=ContactState.CANCELED.value)
            )

        tally = await dial_contacts({"runtime": runtime}, [*carried, 999_999])

        assert tally == {"suppressed": 1, "not-queued": 1, "missing": 1, "started": 2}
        after = {c.phone_e164: c for c in await contacts_of(runtime, campaign_id)}
        assert after[NUMBERS[0]].state == ContactState.SUPPRESSED
        assert after[NUMBERS[1]].state == ContactState.CANCELED
        assert {after[n].state for n in NUMBERS[2:4]} == {ContactState.CALLING}
        assert sorted(c.to_number for c in engine.simulator.ledger.calls) == NUMBERS[2:4]


async def test_a_job_on_a_stopping_worker_hands_its_contacts_back_and_dials_none(
    sqlite_url: str, redis_prefix: str
) -> None:
    async with open_runtime(sqlite_url, redis_prefix) as runtime:
        campaign_id = await running_campaign(runtime, NUMBERS[:3])
        assert len(await queue_every_due(runtime, campaign_id)) == 3
        runtime.stopping.set()  # SIGTERM arrived

        ids = [c.id for c in await contacts_of(runtime, campaign_id)]
        assert await dial_contacts({"runtime": runtime}, ids) == {"no-slot": 3}

        assert {c.state for c in await contacts_of(runtime, campaign_id)} == {"pending"}
        assert await attempts_of(runtime, campaign_id) == []


async def test_a_job_waits_for_room_at_most_twice_the_dispatch_horizon_and_a_second(
    sqlite_url: str, redis_prefix: str
) -> None:
    """What the scheduler queued should start within its horizon: a job that still finds no
    room hands its contacts back soon instead of keeping a worker's job slot."""
    async with open_runtime(
        sqlite_url,
        redis_prefix,
        dialer={"max_wait_seconds": 30.0},
        scheduler={"dispatch_ahead_seconds": 2.0},
    ) as runtime:
        assert longest_wait(runtime) == 5.0
    async with open_runtime(sqlite_url, redis_prefix, dialer={"max_wait_seconds": 3.0}) as runtime:
        assert longest_wait(runtime) == 3.0


async def test_a_job_whose_pooled_connection_died_with_postgresql_runs_again_at_once(
    postgres_url: str, redis_prefix: str
) -> None:
    """After a PostgreSQL restart the pool's connections are dead: the first job to use one
    asks arq to run it again (nothing was taken yet), rather than leaving its contacts
    queued until ``requeue_after_seconds``."""
    async with open_runtime(postgres_url, redis_prefix) as runtime:
        campaign_id = await running_campaign(runtime, NUMBERS[:2])
        ids = await queue_every_due(runtime, campaign_id)
        async with runtime.sessions() as session:  # a pooled connection, then killed
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
        killer = create_engine(postgres_url)
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await killer.dispose()

        with pytest.raises(Retry):
            await dial_contacts({"runtime": runtime}, ids)

        assert {c.state for c in await contacts_of(runtime, campaign_id)} == {"queued"}
        assert await attempts_of(runtime, campaign_id) == []
