"""Slots of calls that ended before their webhook come back within seconds, and the
outcome still comes from the webhook: the simulator with its documented defaults (post-call
processing before the webhook, no disposition on GET /calls, unordered listings)."""

from __future__ import annotations

from sqlalchemy import update

from campaign_engine.db.models import CallAttempt
from campaign_engine.dialer.attempts import mark_unknown
from campaign_engine.dialer.reconciler import Reconciler
from campaign_engine.limits.plan import VOCOBASE_ACTIVE
from campaign_engine.runtime import Runtime
from campaign_engine.simulator.cli import serve_in_background
from campaign_engine.states import AttemptState, ContactState
from tests.conftest import engine_settings
from tests.dialer.support import NUMBERS, ago, attempts_of, claimed_attempt, contacts_of
from tests.harness import running_engine, sim_config, wait_until

FAST = {
    "tick_seconds": 0.1,
    "live_scan_seconds": 0.1,
    "outcome_wait_seconds": 0.5,
    "webhook_grace_seconds": 0.2,
}


async def test_calls_ended_long_before_their_webhook_free_their_slots_at_once(
    sqlite_url: str, redis_prefix: str
) -> None:
    """Six voicemails through two slots while each webhook takes 30 s of processing: every
    call is placed within seconds, and each contact is retried as a voicemail (never closed
    as completed because polling saw the call end first)."""
    simulator = sim_config(
        concurrency=2,
        processing_seconds=(3000, 3000),  # 30 s at the harness's time scale
        outcome_mix={"voicemail": 1},
    )
    numbers = NUMBERS[:6]
    async with running_engine(
        sqlite_url,
        redis_prefix,
        simulator=simulator,
        limits={"vocobase": {"concurrency": 2, "calls_per_minute": 600}},
        scheduler=FAST,
    ) as engine:
        campaign_id = await engine.add_campaign(numbers)

        async def all_placed() -> bool:
            return len({c.to_number for c in engine.simulator.ledger.calls}) == len(numbers)

        await wait_until(all_placed, 15, "every number to be dialed once")
        attempts = await attempts_of(engine.runtime, campaign_id)
        contacts = await contacts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert ledger.peak_concurrency <= 2
    assert not any(a.outcome == "completed" for a in attempts)  # nothing guessed
    assert any(a.state == AttemptState.PROCESSING for a in attempts)
    assert all(c.state != ContactState.COMPLETED for c in contacts)


async def test_an_unknown_start_with_no_live_call_gives_its_slots_back_and_keeps_waiting(
    sqlite_url: str, redis_prefix: str
) -> None:
    """Whole live listings show no call for it: whatever its fate, it occupies no slot. The
    contact still waits (within the grace nothing proves it never dialed)."""
    config = sim_config()
    async with serve_in_background(config) as (sim_url, _):
        settings = engine_settings(
            sqlite_url,
            redis_prefix,
            base_url=sim_url,
            api_key=config.api_key,
            scheduler={"unknown_grace_seconds": 600, "live_scan_seconds": 0.01},
            limits={"vocobase": {"calls_per_minute": 6000}},
        )
        runtime = await Runtime.open(settings)
        try:
            campaign_id, attempt_id = await claimed_attempt(runtime)
            async with runtime.sessions() as session, session.begin():
                await mark_unknown(session, [attempt_id], error="ReadTimeout")
                await session.execute(
                    update(CallAttempt)
                    .where(CallAttempt.id == attempt_id)
                    .values(claimed_at=ago(120))
                )
            assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 1

            await Reconciler(runtime).run_once()

            assert await runtime.limiter.in_use(VOCOBASE_ACTIVE) == 0
            (attempt,) = await attempts_of(runtime, campaign_id)
            (contact,) = await contacts_of(runtime, campaign_id)
        finally:
            await runtime.close()
    assert attempt.state == AttemptState.UNKNOWN
    assert contact.state == ContactState.DIALING  # waits: never redialed on a guess
