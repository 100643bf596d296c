"""The reconciler settles what the dial job could not: unknown starts and lost outcomes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from campaign_engine.campaigns.states import AttemptState, ContactState
from campaign_engine.db.models import CallAttempt
from campaign_engine.dialer.attempts import claim, load_target, mark_started
from campaign_engine.dialer.limit_plan import LimitPlan, SlotLimit, slot_names_for
from campaign_engine.dialer.reconciler import Reconciler
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.runtime import Runtime
from tests.dialer.support import (
    NUMBERS,
    ago,
    attempts_of,
    contacts_of,
    open_runtime,
    running_campaign,
)
from tests.harness import Harness, running_engine, sim_config, wait_until

QUICK_RECONCILE = {"tick_seconds": 0.1, "reconcile_after_seconds": 0.5, "unknown_grace_seconds": 5}


async def all_attempts_unknown(engine: Harness, campaign_id: str, count: int) -> None:
    async def unknown() -> bool:
        found = await attempts_of(engine.runtime, campaign_id)
        return len(found) == count and all(a.state == AttemptState.UNKNOWN for a in found)

    await wait_until(unknown, 15, f"{count} attempts to become unknown")


async def test_a_timed_out_start_goes_unknown_and_the_reconciler_records_its_real_outcome(
    sqlite_url: str, redis_prefix: str
) -> None:
    # Every start answers after the client gave up; no webhook ever comes.
    simulator = sim_config(
        p_slow=1.0, slow_seconds=3, p_drop_webhook=1.0, outcome_mix={"completed": 1}
    )
    async with running_engine(
        sqlite_url, redis_prefix, simulator=simulator, scheduler=QUICK_RECONCILE
    ) as engine:
        campaign_id = await engine.add_campaign(NUMBERS[:2])
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert ledger.slow_responses == 2
    assert len(attempts) == 2
    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)  # never dialed twice
        (attempt,) = [a for a in attempts if a.contact_id == contact.id]
        assert "ReadTimeout" in (attempt.error or "")  # it went through "unknown"
        assert attempt.state == AttemptState.ENDED
        assert (attempt.call_id, attempt.session_id) == (call.call_id, call.session_id)
        assert attempt.outcome == "completed"
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


async def test_a_5xx_that_placed_no_call_is_lost_after_the_grace_and_the_contact_redialed(
    database_url: str, redis_prefix: str
) -> None:
    grace = 1.0
    simulator = sim_config(p_5xx=1.0, p_5xx_places_call=0.0, outcome_mix={"completed": 1})
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        scheduler={**QUICK_RECONCILE, "unknown_grace_seconds": grace},
    ) as engine:
        sim = engine.simulator
        campaign_id = await engine.add_campaign(NUMBERS[:2])
        await all_attempts_unknown(engine, campaign_id, 2)

        # While GET /calls fails too, nothing proves the call was never placed: no verdict.
        past_grace = time.monotonic() + grace
        failures = sim.ledger.responses_5xx

        async def reconciler_tried_after_the_grace() -> bool:
            return time.monotonic() > past_grace and sim.ledger.responses_5xx >= failures + 3

        await wait_until(reconciler_tried_after_the_grace, 15, "failed polls past the grace")
        await all_attempts_unknown(engine, campaign_id, 2)

        sim.config.p_5xx = 0
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = sim.ledger

    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)
        lost, ended = [a for a in attempts if a.contact_id == contact.id]
        assert lost.state == AttemptState.LOST
        assert "500" in (lost.error or "")
        assert lost.call_id is None
        # The lost attempt never reached anyone, so the fresh one reuses its number.
        assert (ended.state, ended.attempt_number) == (AttemptState.ENDED, lost.attempt_number)
        assert ended.call_id == call.call_id
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


async def test_a_5xx_that_placed_the_call_is_found_by_the_reconciler_not_redialed(
    sqlite_url: str, redis_prefix: str
) -> None:
    simulator = sim_config(
        p_5xx=1.0, p_5xx_places_call=1.0, p_drop_webhook=1.0, outcome_mix={"completed": 1}
    )
    async with running_engine(
        sqlite_url,
        redis_prefix,
        simulator=simulator,
        scheduler={**QUICK_RECONCILE, "unknown_grace_seconds": 1.0},
    ) as engine:
        campaign_id = await engine.add_campaign(NUMBERS[:2])
        await all_attempts_unknown(engine, campaign_id, 2)
        engine.simulator.config.p_5xx = 0
        await engine.run_to_completion(campaign_id, limit_seconds=30)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert len(attempts) == 2
    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)
        (attempt,) = [a for a in attempts if a.contact_id == contact.id]
        assert "500" in (attempt.error or "")
        assert attempt.state == AttemptState.ENDED
        assert attempt.call_id == call.call_id
        assert attempt.outcome == "completed"
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)


@pytest.fixture
async def runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    sections = {"scheduler": {"reconcile_after_seconds": 0, "unknown_grace_seconds": 0}}
    async with open_runtime(sqlite_url, redis_prefix, **sections) as opened:
        yield opened


async def claimed_attempt(runtime: Runtime) -> tuple[str, int]:
    """A running campaign with one contact whose first attempt is claimed, lease taken."""
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    assert await Scheduler(runtime).enqueue_due() == 1
    (contact,) = await contacts_of(runtime, campaign_id)
    async with runtime.sessions() as session:
        target = await load_target(session, contact.id)
    assert target is not None
    plan = LimitPlan((), tuple(SlotLimit(n, 5) for n in slot_names_for("mcube", campaign_id)))
    assert (await runtime.limiter.acquire(plan, target.lease, 600_000)).granted
    async with runtime.sessions() as session, session.begin():
        attempt_id = await claim(session, target, margin_seconds=120)
    assert attempt_id is not None
    return campaign_id, attempt_id


async def test_a_started_call_with_no_outcome_by_its_deadline_expires_and_is_not_redialed(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        await mark_started(session, attempt_id, call_id="call-x", session_id="session-x")
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(deadline_at=ago(1))
        )

    stats = await Reconciler(runtime).run_once()

    assert stats.expired == 1
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.state, attempt.outcome) == (AttemptState.EXPIRED, "unknown")
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.EXHAUSTED
    for name in slot_names_for("mcube", campaign_id):
        assert await runtime.limiter.in_use(name) == 0


async def test_a_dialing_attempt_whose_worker_died_becomes_unknown_never_redialed_blindly(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await claimed_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(claimed_at=ago(60))
        )

    reconciler = Reconciler(runtime)
    stats = await reconciler.run_once()

    assert stats.orphaned == 1
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.state == AttemptState.UNKNOWN
    assert attempt.error == "worker stopped during the start request"
    # Vocobase cannot be asked (nothing listens): even past the grace it stays unknown.
    assert (await reconciler.run_once()).lost == 0
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.state == AttemptState.UNKNOWN
    (contact,) = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.attempts_count) == (ContactState.DIALING, 1)
    assert await runtime.limiter.in_use("vocobase:active") == 1
