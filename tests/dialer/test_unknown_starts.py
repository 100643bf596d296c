"""Starts of unknown fate are settled by evidence that holds whatever the order of
``GET /calls`` and however far Vocobase's clock is from ours: nobody is dialed twice."""

from __future__ import annotations

import pytest

from campaign_engine.states import AttemptState, ContactState
from tests.dialer.support import NUMBERS, attempts_of, contacts_of
from tests.harness import running_engine, sim_config, wait_until

FAST = {
    "tick_seconds": 0.1,
    "live_scan_seconds": 0.1,
    "reconcile_after_seconds": 0.5,
    "unknown_grace_seconds": 1.0,
    "outcome_wait_seconds": 0.3,
    "webhook_grace_seconds": 0.1,
}


@pytest.mark.parametrize(
    ("order", "skew"), [("oldest", 45.0), ("unordered", -45.0), ("newest", 45.0)]
)
async def test_a_start_that_placed_its_call_is_found_never_redialed(
    sqlite_url: str, redis_prefix: str, order: str, skew: float
) -> None:
    """Every start answers 500 after placing its call (fate unknown); listings come in any
    order and Vocobase's clock is 45 s off ours. Each call is found, none dialed twice."""
    simulator = sim_config(
        p_5xx=1.0,
        p_5xx_places_call=1.0,
        list_order=order,
        clock_skew_seconds=skew,
        outcome_mix={"completed": 1},
    )
    numbers = NUMBERS[:4]
    async with running_engine(
        sqlite_url, redis_prefix, simulator=simulator, scheduler=FAST
    ) as engine:
        campaign_id = await engine.add_campaign(numbers)
        await engine.run_to_completion(campaign_id, limit_seconds=60)
        contacts = await contacts_of(engine.runtime, campaign_id)
        attempts = await attempts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    for contact in contacts:
        (call,) = ledger.calls_to(contact.phone_e164)  # dialed once
        (attempt,) = [a for a in attempts if a.contact_id == contact.id]
        assert (attempt.state, attempt.call_id) == (AttemptState.ENDED, call.call_id)
        assert contact.state == ContactState.COMPLETED


@pytest.mark.parametrize("skew", [45.0, -45.0])
async def test_a_start_that_placed_no_call_is_lost_only_from_a_whole_listing(
    sqlite_url: str, redis_prefix: str, skew: float
) -> None:
    """No call placed: the contact gets one fresh attempt (not counted), dialed once."""
    simulator = sim_config(
        p_5xx=1.0,
        p_5xx_places_call=0.0,
        list_order="unordered",
        clock_skew_seconds=skew,
        outcome_mix={"completed": 1},
    )
    async with running_engine(
        sqlite_url, redis_prefix, simulator=simulator, scheduler=FAST
    ) as engine:
        campaign_id = await engine.add_campaign(NUMBERS[:2])

        async def all_unknown() -> bool:
            found = await attempts_of(engine.runtime, campaign_id)
            return len(found) == 2 and all(a.state == AttemptState.UNKNOWN for a in found)

        await wait_until(all_unknown, 30, "both starts to be of unknown fate")
        engine.simulator.config.p_5xx = 0  # GET /calls answers again (and so do starts)
        await engine.run_to_completion(campaign_id, limit_seconds=60)
        attempts = await attempts_of(engine.runtime, campaign_id)
        contacts = await contacts_of(engine.runtime, campaign_id)
        ledger = engine.simulator.ledger

    assert sorted(a.state for a in attempts) == sorted(
        [AttemptState.LOST, AttemptState.LOST, AttemptState.ENDED, AttemptState.ENDED]
    )
    for contact in contacts:
        assert len(ledger.calls_to(contact.phone_e164)) == 1
        assert (contact.state, contact.attempts_count) == (ContactState.COMPLETED, 1)
