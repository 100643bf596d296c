"""One wave of a dial job against the simulator: every start request of the wave goes out
together, and each answer is recorded by what it means for "was a call placed?"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from campaign_engine.db.models import utcnow
from campaign_engine.dialer import attempts
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.dialer.targets import DialTarget, load_targets
from campaign_engine.dialer.wave import run_wave
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, LimitPlan, SlotLimit, slot_names_for
from campaign_engine.states import AttemptState, ContactState
from tests.dialer.support import NUMBERS, attempts_of, contacts_of
from tests.harness import Harness, running_engine, sim_config

INVALID = "+0123"  # the simulator refuses it with a 400 that names to_number


@pytest.fixture
async def engine(database_url: str, redis_prefix: str) -> AsyncIterator[Harness]:
    """A simulator with room for one call, and no worker or scheduler of the engine's own."""
    simulator = sim_config(
        concurrency=1,
        talk_seconds=(1000, 1000),
        outcome_mix={"completed": 1},
        send_retry_after=False,
    )
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        with_scheduler=False,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": 10}},
    ) as harness:
        yield harness


async def leased_wave(engine: Harness, numbers: list[str]) -> tuple[str, list[DialTarget]]:
    """A started campaign's contacts, queued, with their leases taken as the job takes them."""
    runtime = engine.runtime
    campaign_id = await engine.add_campaign(numbers)
    await Scheduler(runtime).enqueue_due()
    ids = [contact.id for contact in await contacts_of(runtime, campaign_id)]
    async with runtime.sessions() as session:
        targets = await load_targets(session, ids)
    names = slot_names_for("mcube", campaign_id)
    plan = LimitPlan((), tuple(SlotLimit(name, 10) for name in names))
    grants = await runtime.limiter.acquire_many(plan, [t.lease for t in targets], 60_000)
    assert len(grants.granted) == len(targets)
    return campaign_id, targets


async def test_a_wave_records_a_start_a_refused_number_and_a_429_each_for_what_it_is(
    engine: Harness,
) -> None:
    runtime = engine.runtime
    campaign_id, wave = await leased_wave(engine, [NUMBERS[0], INVALID, NUMBERS[1]])

    tally = await run_wave(runtime, wave)

    # The simulator has room for one call: one start wins, the other valid number gets a
    # 429 (no attempt spent), the invalid number is refused for itself alone.
    assert tally == {"started": 1, "rate-limited": 1, "rejected": 1}
    contacts = {c.phone_e164: c for c in await contacts_of(runtime, campaign_id)}
    by_contact = {a.contact_id: a for a in await attempts_of(runtime, campaign_id)}
    refused = contacts[INVALID]
    assert refused.state == ContactState.FAILED
    assert "to_number" in (by_contact[refused.id].error or "")
    assert by_contact[refused.id].outcome == "rejected"
    (placed,) = engine.simulator.ledger.calls
    started = contacts[placed.to_number]
    assert started.state == ContactState.CALLING
    assert by_contact[started.id].call_id == placed.call_id
    (limited,) = [c for n, c in contacts.items() if n not in (INVALID, placed.to_number)]
    assert (limited.state, limited.attempts_count) == (ContactState.PENDING, 0)
    assert by_contact[limited.id].state == AttemptState.NOT_SENT
    assert limited.next_attempt_at is not None and limited.next_attempt_at > utcnow()
    # Only the call that exists still holds a slot; the whole fleet cools down.
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 1
    assert await runtime.redis.pttl(runtime.keys.cooldown) > 0
    assert await runtime.redis.exists(runtime.keys.lowered_concurrency)


async def test_a_wave_claimed_elsewhere_sends_nothing_and_frees_its_leases(
    engine: Harness,
) -> None:
    runtime = engine.runtime
    campaign_id, wave = await leased_wave(engine, NUMBERS[:2])
    async with runtime.sessions() as session, session.begin():
        assert len(await attempts.claim(session, wave, margin_seconds=120)) == 2

    assert await run_wave(runtime, wave) == {"claimed-elsewhere": 2}

    assert engine.simulator.ledger.calls == []
    assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 0
    assert len(await attempts_of(runtime, campaign_id)) == 2


async def test_a_wave_of_accepted_starts_stores_every_call_id_in_one_go(
    database_url: str, redis_prefix: str
) -> None:
    simulator = sim_config(concurrency=10, talk_seconds=(1000, 1000), outcome_mix={"completed": 1})
    async with running_engine(
        database_url, redis_prefix, simulator=simulator, with_worker=False, with_scheduler=False
    ) as engine:
        runtime = engine.runtime
        campaign_id, wave = await leased_wave(engine, NUMBERS[:5])

        assert await run_wave(runtime, wave) == {"started": 5}

        attempts_by_number = {a.to_number: a for a in await attempts_of(runtime, campaign_id)}
        placed = {call.to_number: call.call_id for call in engine.simulator.ledger.calls}
        assert {n: a.call_id for n, a in attempts_by_number.items()} == placed
        assert {a.state for a in attempts_by_number.values()} == {AttemptState.STARTED}
        contacts = await contacts_of(runtime, campaign_id)
        assert {c.state for c in contacts} == {ContactState.CALLING}
        assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 5
