"""The ledger: the simulator's own evidence of calls placed and limits respected."""

from __future__ import annotations

import json

from .conftest import SimFactory, fast_config, start_body


async def test_ledger_records_peak_concurrency(sim: SimFactory) -> None:
    # Answered calls at this scale last >= 120 ms, so all three overlap.
    config = fast_config(
        concurrency=5, calls_per_minute=100, time_scale=0.01, outcome_mix={"completed": 1}
    )
    async with sim(config) as (client, simulator):
        for i in range(3):
            await client.post("/calls/start", json=start_body(f"+1555555000{i}"))
        await simulator.drain()
        await client.post("/calls/start", json=start_body("+15555550009"))
        await simulator.drain()
        assert simulator.ledger.peak_concurrency == 3


async def test_ledger_counts_max_calls_requests_in_window(sim: SimFactory) -> None:
    async with sim(fast_config(calls_per_minute=3)) as (client, simulator):
        for _ in range(5):
            await client.get("/calls")
        await client.get("/config")
        ledger = simulator.ledger
        assert ledger.max_calls_requests_in_window == 3
        assert ledger.responses_429 == {"rate": 2, "concurrency": 0}
        assert ledger.requests_total == 6


async def test_calls_to_returns_every_call_to_a_number(sim: SimFactory) -> None:
    async with sim(fast_config(calls_per_minute=100)) as (client, simulator):
        for number in ("+15555550001", "+15555550002", "+15555550001"):
            await client.post("/calls/start", json=start_body(number))
        assert len(simulator.ledger.calls_to("+15555550001")) == 2
        assert simulator.ledger.calls_to("+15555550003") == []


async def test_ledger_follows_the_call_to_its_end(sim: SimFactory) -> None:
    async with sim(fast_config(outcome_mix={"completed": 1})) as (client, simulator):
        await client.post("/calls/start", json=start_body(variables={"name": "Asha"}))
        [record] = simulator.ledger.calls
        assert record.status == "pending"
        await simulator.drain()
    assert (record.status, record.disposition, record.answered_by) == (
        "completed",
        "completed",
        "human",
    )
    assert record.ended_at is not None and record.duration_seconds
    assert record.pipeline_completed_at is not None
    assert record.pipeline_completed_at >= record.ended_at
    assert record.variables == {"name": "Asha"}


async def test_to_dict_is_json_serialisable(sim: SimFactory) -> None:
    async with sim() as (client, simulator):
        await client.post("/calls/start", json=start_body())
        await simulator.drain()
        snapshot = json.loads(json.dumps(simulator.ledger.to_dict()))
    assert snapshot["calls"][0]["to_number"] == "+919876543210"
    assert snapshot["calls"][0]["created_at"].endswith("Z")
    assert snapshot["calls"][0]["pipeline_completed_at"].endswith("Z")
    assert snapshot["peak_concurrency"] == 1


async def test_sim_routes_need_no_auth_and_reset_clears(sim: SimFactory) -> None:
    async with sim() as (client, simulator):
        await client.post("/calls/start", json=start_body())
        client.headers.pop("Authorization")
        ledger = (await client.get("http://sim/_sim/ledger")).json()
        assert len(ledger["calls"]) == 1
        assert (await client.post("http://sim/_sim/reset")).status_code == 200
        assert simulator.ledger.to_dict()["calls"] == []
        assert simulator.calls.newest_first() == []
        assert simulator.ledger.requests_total == 0
