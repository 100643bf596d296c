"""Slots of calls that ended before their webhook come back within seconds, and the
outcome still comes from the webhook: the simulator with its documented defaults (post-call
processing before the webhook, no disposition on GET /calls, unordered listings)."""

from __future__ import annotations

from campaign_engine.states import AttemptState, ContactState
from tests.dialer.support import NUMBERS, attempts_of, contacts_of
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
