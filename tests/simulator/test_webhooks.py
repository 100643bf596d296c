"""Delivery of session.completed: shape, signature, retries, drops, duplicates, the race."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import Receiver, SimFactory, fast_config, start_body

HOOK = "http://receiver.test/hooks/vocobase"


def hook_config(**overrides: object) -> dict[str, object]:
    return {"webhook_url": HOOK, "webhook_secret": "whsec_test", **overrides}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_webhook_signature_verifies_with_endpoint_secret(sim: SimFactory) -> None:
    receiver = Receiver()
    async with sim(fast_config(**hook_config()), receiver) as (client, simulator):
        assert (await client.post("/calls/start", json=start_body())).status_code == 200
        await simulator.drain()
    [request] = receiver.requests
    timestamp = request.headers["X-Webhook-Timestamp"]
    expected = hmac.new(
        b"whsec_test", timestamp.encode() + b"." + request.content, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-Webhook-Signature"] == f"sha256={expected}"
    assert request.headers["Content-Type"] == "application/json"
    assert timestamp.endswith("Z")


async def test_webhook_body_matches_documented_shape(sim: SimFactory) -> None:
    receiver = Receiver()
    config = fast_config(**hook_config(outcome_mix={"completed": 1}))
    variables = {"name": "Asha", "ce_attempt_id": "att-1"}
    async with sim(config, receiver) as (client, simulator):
        started = (await client.post("/calls/start", json=start_body(variables=variables))).json()
        await simulator.drain()
    body = json.loads(receiver.requests[0].content)
    assert body["event"] == "session.completed"
    assert body["timestamp"].endswith("Z")
    data = body["data"]
    assert set(data) == {
        "session_id",
        "agent_id",
        "agent_name",
        "duration_seconds",
        "credits_used",
        "processing_complete",
        "pipeline_completed_at",
        "transcript",
        "recording_url",
        "variables",
        "extraction",
        "call",
    }
    assert data["session_id"] == started["data"]["session_id"]
    assert data["variables"] == variables
    assert data["processing_complete"] is True
    assert parse_time(data["pipeline_completed_at"]) <= parse_time(body["timestamp"])
    assert data["extraction"] is None
    assert data["recording_url"]
    assert data["call"] == {
        "call_id": started["data"]["call_id"],
        "from_number": "+14155550100",
        "to_number": "+919876543210",
        "direction": "outbound",
        "status": "completed",
        "disposition": "completed",
        "answered_by": "human",
    }


async def test_unanswered_call_webhook_has_null_recording(sim: SimFactory) -> None:
    receiver = Receiver()
    config = fast_config(**hook_config(outcome_mix={"no_answer": 1}))
    async with sim(config, receiver) as (client, simulator):
        await client.post("/calls/start", json=start_body())
        await simulator.drain()
    data = json.loads(receiver.requests[0].content)["data"]
    assert data["recording_url"] is None
    assert data["call"]["answered_by"] == "not_answered"


@pytest.mark.parametrize(
    ("outcome", "status", "disposition", "answered_by"),
    [
        ("voicemail", "completed", "voicemail", "machine"),
        ("user_hangup_no_speech", "completed", "user_hangup_no_speech", "unknown"),
        ("canceled", "canceled", "canceled", "not_answered"),
        ("blocked", "failed", "blocked", "not_answered"),
    ],
)
async def test_webhook_carries_documented_status_and_disposition(
    sim: SimFactory, outcome: str, status: str, disposition: str, answered_by: str
) -> None:
    receiver = Receiver()
    config = fast_config(**hook_config(outcome_mix={outcome: 1}))
    async with sim(config, receiver) as (client, simulator):
        await client.post("/calls/start", json=start_body())
        await simulator.drain()
    call = json.loads(receiver.requests[0].content)["data"]["call"]
    assert (call["status"], call["disposition"], call["answered_by"]) == (
        status,
        disposition,
        answered_by,
    )


async def test_webhook_waits_for_post_call_processing(sim: SimFactory) -> None:
    receiver = Receiver()
    config = fast_config(
        **hook_config(
            time_scale=1.0,
            ring_seconds=(0.02, 0.02),
            talk_seconds=(0.02, 0.02),
            processing_seconds=(0.3, 0.3),
            outcome_mix={"completed": 1},
        )
    )
    async with sim(config, receiver) as (client, simulator):
        await client.post("/calls/start", json=start_body())
        for _ in range(200):
            if simulator.ledger.calls[0].ended_at is not None:
                break
            await asyncio.sleep(0.01)
        [record] = simulator.ledger.calls
        assert record.status == "completed"
        assert receiver.requests == []  # ended, but processing is not done
        await simulator.drain()
    body = json.loads(receiver.requests[0].content)
    data = body["data"]
    assert data["processing_complete"] is True
    assert record.ended_at is not None
    assert parse_time(data["pipeline_completed_at"]) - record.ended_at >= timedelta(seconds=0.25)


async def test_webhook_timestamps_follow_the_skewed_clock(sim: SimFactory) -> None:
    receiver = Receiver()
    skew = 7200.0
    config = fast_config(**hook_config(clock_skew_seconds=skew, processing_seconds=(0, 0)))
    async with sim(config, receiver) as (client, simulator):
        before = datetime.now(UTC)
        await client.post("/calls/start", json=start_body())
        await simulator.drain()
        after = datetime.now(UTC)
    [request] = receiver.requests
    body = json.loads(request.content)
    shift = timedelta(seconds=skew)
    slack = timedelta(milliseconds=1)
    stamps = [
        request.headers["X-Webhook-Timestamp"],
        body["timestamp"],
        body["data"]["pipeline_completed_at"],
        body["data"]["transcript"][0]["timestamp"],
    ]
    for stamp in stamps:
        assert before + shift - slack <= parse_time(stamp) <= after + shift


async def test_dropped_webhook_is_never_delivered(sim: SimFactory) -> None:
    receiver = Receiver()
    async with sim(fast_config(**hook_config(p_drop_webhook=1.0)), receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        await s.drain()
        [record] = s.ledger.calls
    assert receiver.requests == []
    assert record.dropped
    assert (record.webhook_attempts, record.webhook_deliveries) == (0, 0)


async def test_duplicate_webhook_delivered_twice(sim: SimFactory) -> None:
    receiver = Receiver()
    config = fast_config(**hook_config(p_duplicate_webhook=1.0))
    async with sim(config, receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        await s.drain()
        [record] = s.ledger.calls
    first, second = receiver.requests
    assert first.content == second.content
    assert record.webhook_deliveries == 2
    assert not record.dropped


async def test_webhook_retries_then_drops_on_receiver_errors(sim: SimFactory) -> None:
    receiver = Receiver(statuses=[500] * 10)
    async with sim(fast_config(**hook_config()), receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        await s.drain()
        [record] = s.ledger.calls
    assert len(receiver.requests) == 4  # first attempt plus retries at +1, +2, +4 s
    assert (record.webhook_attempts, record.webhook_deliveries) == (4, 0)
    assert record.dropped


async def test_webhook_retry_succeeds_after_transient_error(sim: SimFactory) -> None:
    receiver = Receiver(statuses=[503])
    async with sim(fast_config(**hook_config()), receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        await s.drain()
        [record] = s.ledger.calls
    assert (record.webhook_attempts, record.webhook_deliveries) == (2, 1)
    assert not record.dropped


async def test_unreachable_receiver_is_retried_like_an_error(sim: SimFactory) -> None:
    receiver = Receiver(fail_with=httpx.ConnectError("refused"))
    async with sim(fast_config(**hook_config()), receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        await s.drain()
        [record] = s.ledger.calls
    assert record.webhook_attempts == 4
    assert record.dropped


async def test_no_webhook_is_sent_without_a_url(sim: SimFactory) -> None:
    receiver = Receiver()
    async with sim(fast_config(), receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        await s.drain()
        [record] = s.ledger.calls
    assert receiver.requests == []
    assert record.webhook_attempts == 0


async def test_early_webhook_arrives_before_start_response(sim: SimFactory) -> None:
    receiver = Receiver()
    config = fast_config(**hook_config(outcome_mix={"busy": 1}, early_webhook=True))
    async with sim(config, receiver) as (client, s):
        response = await client.post("/calls/start", json=start_body())
        assert len(receiver.requests) == 1  # already delivered when the response arrives
        call = json.loads(receiver.requests[0].content)["data"]["call"]
        assert call["call_id"] == response.json()["data"]["call_id"]
        assert call["status"] == "busy"
        assert response.json()["data"]["status"] == "pending"
        await s.drain()
    assert len(receiver.requests) == 1


async def test_early_webhook_does_not_affect_answered_calls(sim: SimFactory) -> None:
    receiver = Receiver()
    config = fast_config(
        time_scale=0.01, **hook_config(outcome_mix={"completed": 1}, early_webhook=True)
    )
    async with sim(config, receiver) as (client, s):
        await client.post("/calls/start", json=start_body())
        assert receiver.requests == []
        await s.drain()
    assert len(receiver.requests) == 1


def test_the_simulator_signs_with_the_secret_in_the_form_its_knob_names() -> None:
    from campaign_engine.simulator.knobs import SimulatorConfig
    from campaign_engine.simulator.webhooks import signing_key

    assert signing_key(SimulatorConfig(webhook_secret="whsec_abc")) == "whsec_abc"
    config = SimulatorConfig(webhook_secret="whsec_abc", webhook_key_form="without_prefix")
    assert signing_key(config) == "abc"
