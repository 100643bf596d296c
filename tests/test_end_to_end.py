"""The whole path, proven from the simulator's own ledger: who was dialed, how often."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import select

from campaign_engine.campaigns.outcome_classes import Outcome, classify, settled_by_status
from campaign_engine.campaigns.retry_policy import policy_explains
from campaign_engine.db.models import CallAttempt, Contact
from campaign_engine.states import CONTACT_FINAL, AttemptState
from tests.harness import quick_policy, running_engine, sim_config

pytestmark = pytest.mark.slow

NUMBERS = [f"+9198{index:08d}" for index in range(30)]


async def test_campaign_runs_to_completion_dialing_each_contact_as_often_as_its_outcomes_justify(
    database_url: str, redis_prefix: str
) -> None:
    policy = quick_policy(max_attempts=3)
    simulator = sim_config(
        p_drop_webhook=0.15,
        p_duplicate_webhook=0.2,
        concurrency=4,
    )
    async with running_engine(
        database_url,
        redis_prefix,
        simulator=simulator,
        scheduler={"tick_seconds": 0.1, "reconcile_after_seconds": 0.5},
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": "auto"}},
    ) as engine:
        campaign_id = await engine.add_campaign(NUMBERS, policy=policy)
        await engine.run_to_completion(campaign_id, limit_seconds=90)
        async with engine.runtime.sessions() as session:
            contacts = (await session.scalars(select(Contact))).all()
            attempts = (
                await session.scalars(select(CallAttempt).order_by(CallAttempt.attempt_number))
            ).all()
        ledger = engine.simulator.ledger

    assert ledger.peak_concurrency <= 4
    assert sum(ledger.responses_429.values()) == 0
    engine_outcomes: dict[int, list[str | None]] = defaultdict(list)
    for attempt in attempts:
        assert attempt.state == AttemptState.ENDED.value
        engine_outcomes[attempt.contact_id].append(attempt.outcome)
    for contact in contacts:
        assert contact.state in CONTACT_FINAL
        placed = ledger.calls_to(contact.phone_e164)
        # What the engine can know: the disposition comes only with the webhook; for a call
        # whose webhook was lost for good, only its status (documented on GET /calls).
        dialed = [
            classify(call.status, None if call.dropped else call.disposition) for call in placed
        ]
        assert dialed, f"{contact.phone_e164} was never dialed"
        assert policy_explains(policy, dialed), (contact.phone_e164, dialed)
        assert engine_outcomes[contact.id] == [outcome.value for outcome in dialed]
        expected = "completed" if dialed[-1] is Outcome.COMPLETED else "exhausted"
        assert contact.state == expected
    # Dropped webhooks happened, and polling still learned every outcome, saying so.
    assert any(call.dropped for call in ledger.calls)
    by_call = {attempt.call_id: attempt for attempt in attempts}
    for call in ledger.calls:
        source = by_call[call.call_id].outcome_source
        if call.dropped:
            assert source == "poll", (call.call_id, source)
        elif settled_by_status(call.status):  # decided from polling, enriched by the webhook
            assert source in ("webhook", "poll+webhook"), (call.call_id, source)
        else:  # how it ended waited for the webhook
            assert source == "webhook", (call.call_id, source)
