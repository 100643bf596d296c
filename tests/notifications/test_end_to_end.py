"""A campaign's results reach the operator's endpoint from the running engine's outbox."""

from __future__ import annotations

from collections import Counter

from campaign_engine.runtime import Runtime
from tests.dialer.support import NUMBERS
from tests.harness import running_engine, sim_config, wait_until

from .conftest import OPERATOR_SECRET, OperatorEndpoint, free_port, serving
from .support import notifications


async def test_each_attempt_and_each_contacts_final_result_is_delivered_once(
    sqlite_url: str, redis_prefix: str
) -> None:
    port = free_port()
    endpoint = OperatorEndpoint()
    numbers = NUMBERS[:4]
    # Two no-answers then completion for everyone: attempts 1-2 retry, attempt 3 is final.
    simulator = sim_config(outcome_mix={"no_answer": 1})
    async with (
        serving(endpoint, port),
        running_engine(
            sqlite_url,
            redis_prefix,
            simulator=simulator,
            notifications={
                "url": f"http://127.0.0.1:{port}/results",
                "secret": OPERATOR_SECRET,
                "backoff_seconds": 0.1,
            },
        ) as engine,
    ):
        campaign_id = await engine.add_campaign(numbers)
        await engine.run_to_completion(campaign_id, limit_seconds=60)
        runtime: Runtime = engine.runtime

        async def all_delivered() -> bool:
            rows = await notifications(runtime)
            return bool(rows) and all(row.status == "delivered" for row in rows)

        await wait_until(all_delivered, 30, "every notification to be delivered")
        attempts_placed = len(engine.simulator.ledger.calls)

    assert all(item.signed_correctly for item in endpoint.received)
    ids = Counter(endpoint.ids())
    assert set(ids.values()) == {1}, "a notification was delivered twice"
    bodies = [item.json for item in endpoint.received]
    per_attempt = [b for b in bodies if b["event"] == "attempt.outcome"]
    finals = [b for b in bodies if b["event"] == "contact.final"]
    assert len(per_attempt) == attempts_placed == 3 * len(numbers)
    assert sorted(b["data"]["phone"] for b in finals) == sorted(numbers)
    for final in finals:
        assert (final["data"]["state"], final["data"]["attempts"]) == ("exhausted", 3)
        assert final["data"]["last_attempt"]["outcome"] == "no_answer"
    flags = Counter((b["data"]["attempt_number"], b["data"]["final"]) for b in per_attempt)
    assert flags == {(1, False): 4, (2, False): 4, (3, True): 4}
