"""``POST /webhooks/vocobase`` over the real app: verify, store once, answer; health checks."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from campaign_engine.config import with_overrides
from campaign_engine.runtime import Runtime

from .conftest import (
    SECRET,
    client_for,
    deliver,
    event_body,
    hmac_signature,
    inbox_rows,
    iso,
    signed,
)


async def test_valid_signed_event_is_stored_once_with_its_raw_body_and_answered_200(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body(session_id="sess-ok", call_id="call-ok")
    headers = signed(body)
    response = await client.post("/webhooks/vocobase", content=body, headers=headers)

    assert response.status_code == 200
    answer = response.json()
    assert answer["ok"] is True
    [row] = await inbox_rows(runtime)
    assert answer["event_id"] == row.id
    assert (row.session_id, row.call_id, row.event_type) == (
        "sess-ok",
        "call-ok",
        "session.completed",
    )
    assert row.raw_body == body
    assert row.duplicates == 0
    for name in ("X-Webhook-Timestamp", "X-Webhook-Signature", "content-type"):
        assert row.headers[name] == headers[name.title() if name == "content-type" else name]


async def test_duplicate_delivery_is_answered_200_duplicate_and_counted_on_the_one_row(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body(session_id="sess-dup")
    first = await deliver(client, body)
    second = await deliver(client, body)
    # A redelivery is signed afresh, and may carry a re-serialised body: same session_id.
    third = await deliver(client, event_body(session_id="sess-dup", duration_seconds=99.0))

    assert first.status_code == 200 and "duplicate" not in first.json()
    assert second.status_code == 200 and second.json() == {"ok": True, "duplicate": True}
    assert third.status_code == 200 and third.json()["duplicate"] is True
    [row] = await inbox_rows(runtime)
    assert row.duplicates == 2
    assert row.raw_body == body  # the first delivery is what is kept


async def test_delivery_signed_with_a_wrong_secret_is_refused_401_and_not_stored(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await deliver(client, event_body(), secret="whsec_attacker")

    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "signature does not match"}
    assert await inbox_rows(runtime) == []


async def test_delivery_with_a_stale_timestamp_is_refused_401_and_not_stored(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body()
    response = await deliver(client, body, at=datetime.now(UTC) - timedelta(hours=1))

    assert response.status_code == 401
    assert "old" in response.json()["error"]
    assert await inbox_rows(runtime) == []


async def test_unsigned_delivery_is_refused_401_and_not_stored(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await client.post("/webhooks/vocobase", content=event_body())

    assert response.status_code == 401
    assert "missing X-Webhook-Timestamp" in response.json()["error"]
    assert await inbox_rows(runtime) == []


async def test_body_changed_in_transit_is_refused_401(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body()
    headers = signed(body)
    tampered = body.replace(b'"completed"', b'"no_answer"', 1)
    response = await client.post("/webhooks/vocobase", content=tampered, headers=headers)

    assert response.status_code == 401
    assert await inbox_rows(runtime) == []


async def test_signed_body_that_is_not_utf8_json_is_answered_400_and_kept_as_invalid(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = b"\x80\x81\x82 definitely not utf-8"
    response = await deliver(client, body)

    assert response.status_code == 400
    assert response.json()["error"].startswith("body is not JSON")
    [row] = await inbox_rows(runtime)
    assert row.status == "invalid"
    assert row.raw_body == body
    assert row.error is not None and row.error.startswith("body is not JSON")
    assert row.session_id is None
    assert row.processed_at is not None


async def test_signed_body_that_is_utf8_but_not_json_is_answered_400_and_kept_as_invalid(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await deliver(client, b"session completed, honest")

    assert response.status_code == 400
    [row] = await inbox_rows(runtime)
    assert (row.status, row.raw_body) == ("invalid", b"session completed, honest")
    assert row.error is not None and "not JSON" in row.error


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (event_body(session_id="s" * 65), "data.session_id: String should have at most 64"),
        (event_body(call_id="c" * 65), "data.call.call_id: String should have at most 64"),
        (event_body(session_id="sess\u0000nul"), "data.session_id: String should match"),
        (event_body(session_id="   "), "data.session_id: String should have at least 1"),
        (event_body(disposition="d" * 40), "data.call.disposition: String should have at most"),
        (
            event_body(duration_seconds=42.5).replace(b"42.5", b"1e400"),
            "data.duration_seconds: Input should be a finite number",
        ),
        (
            event_body(variables={"due": 1.5}).replace(b"1.5", b"NaN"),
            "data: Value error, variables holds a number that is not finite",
        ),
        (
            event_body(extraction={"status": "success", "values": {"note": "a\u0000b"}}),
            "data: Value error, extraction holds a NUL character",
        ),
    ],
)
async def test_a_signed_body_the_database_could_not_store_is_answered_400_and_kept(
    runtime: Runtime, client: httpx.AsyncClient, body: bytes, problem: str
) -> None:
    response = await deliver(client, body)

    assert response.status_code == 400
    assert problem in response.json()["error"]
    [row] = await inbox_rows(runtime)
    assert (row.status, row.raw_body) == ("invalid", body)
    assert problem in (row.error or "")


async def test_json_event_without_data_session_id_is_answered_400_and_kept_with_the_reason(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = json.dumps(
        {"event": "session.completed", "timestamp": iso(datetime.now(UTC)), "data": {}}
    ).encode()
    response = await deliver(client, body)

    assert response.status_code == 400
    assert "data.session_id" in response.json()["error"]
    [row] = await inbox_rows(runtime)
    assert row.status == "invalid"
    assert row.error == "body is not a session.completed event: data.session_id: Field required"
    assert row.raw_body == body


async def test_several_invalid_deliveries_are_all_kept(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    for body in (b"one", b"two", b"{}"):
        assert (await deliver(client, body)).status_code == 400
    rows = await inbox_rows(runtime)
    assert [row.raw_body for row in rows] == [b"one", b"two", b"{}"]
    assert {row.status for row in rows} == {"invalid"}


async def test_body_over_max_body_bytes_is_refused_413_and_not_stored(runtime: Runtime) -> None:
    small = dataclasses.replace(
        runtime, settings=with_overrides(runtime.settings, server={"max_body_bytes": 256})
    )
    body = event_body(session_id="sess-big", padding="x" * 1000)
    async with client_for(small) as client:
        response = await deliver(client, body)

    assert response.status_code == 413
    assert response.json()["error"] == "body larger than 256 bytes"
    assert await inbox_rows(runtime) == []


async def test_streamed_body_without_content_length_over_the_limit_is_refused_413(
    runtime: Runtime,
) -> None:
    small = dataclasses.replace(
        runtime, settings=with_overrides(runtime.settings, server={"max_body_bytes": 256})
    )
    body = event_body(session_id="sess-stream", padding="x" * 1000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    async with client_for(small) as client:
        response = await client.post("/webhooks/vocobase", content=chunks(), headers=signed(body))

    assert response.status_code == 413
    assert await inbox_rows(runtime) == []


async def test_body_exactly_at_the_limit_is_accepted(runtime: Runtime) -> None:
    body = event_body(session_id="sess-edge")
    exact = dataclasses.replace(
        runtime, settings=with_overrides(runtime.settings, server={"max_body_bytes": len(body)})
    )
    async with client_for(exact) as client:
        response = await deliver(client, body)

    assert response.status_code == 200
    assert len(await inbox_rows(runtime)) == 1


async def test_delivery_signed_with_a_previous_secret_is_accepted_during_rotation(
    runtime: Runtime,
) -> None:
    rotated = dataclasses.replace(
        runtime,
        settings=with_overrides(
            runtime.settings,
            vocobase={"webhook_secret": "whsec_new", "previous_webhook_secrets": [SECRET]},
        ),
    )
    body = event_body(session_id="sess-rot")
    async with client_for(rotated) as client:
        old = await deliver(client, body)
        new = await deliver(client, event_body(session_id="sess-rot-2"), secret="whsec_new")

    assert (old.status_code, new.status_code) == (200, 200)
    assert [row.session_id for row in await inbox_rows(runtime)] == ["sess-rot", "sess-rot-2"]


async def test_signature_is_checked_on_the_exact_bytes_received(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Re-serialising the JSON before checking would break real signatures: whitespace and
    key order are part of what Vocobase signed."""
    body = b'{ "data" : {"session_id":"sess-raw"},\n "timestamp":"t", "event":"session.completed"}'
    timestamp = iso(datetime.now(UTC))
    headers = {
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Signature": hmac_signature(SECRET, timestamp, body),
    }
    response = await client.post("/webhooks/vocobase", content=body, headers=headers)

    assert response.status_code == 200
    [row] = await inbox_rows(runtime)
    assert row.raw_body == body


async def test_healthz_answers_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


async def test_readyz_answers_200_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"ok": True, "problems": {}})


async def test_readyz_answers_503_naming_redis_when_redis_does_not_answer(
    runtime: Runtime,
) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    try:
        async with client_for(dataclasses.replace(runtime, redis=dead)) as client:  # type: ignore[arg-type]
            response = await client.get("/readyz")
    finally:
        await dead.aclose()

    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert set(body["problems"]) == {"redis"}


async def test_delivery_stamped_too_far_in_the_future_is_refused_401_and_not_stored(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await deliver(client, event_body(), at=datetime.now(UTC) + timedelta(hours=1))

    assert response.status_code == 401
    assert "in the future" in response.json()["error"]
    assert await inbox_rows(runtime) == []


async def test_delivery_with_a_timestamp_but_no_signature_is_refused_401(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body()
    headers = {"X-Webhook-Timestamp": iso(datetime.now(UTC))}
    response = await client.post("/webhooks/vocobase", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "missing X-Webhook-Signature header"
    assert await inbox_rows(runtime) == []


async def test_a_signature_header_with_non_ascii_bytes_is_refused_401_not_a_crash(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body()
    headers = {**signed(body), "X-Webhook-Signature": "sha256=\xe9\xe9".encode("latin-1")}
    response = await client.post("/webhooks/vocobase", content=body, headers=headers)  # type: ignore[arg-type]

    assert response.status_code == 401
    assert response.json()["error"] == "signature does not match"
    assert await inbox_rows(runtime) == []


async def test_a_signed_but_stale_replay_of_an_accepted_event_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    body = event_body(session_id="sess-replay")
    assert (await deliver(client, body)).status_code == 200
    replay = await deliver(client, body, at=datetime.now(UTC) - timedelta(minutes=6))

    assert replay.status_code == 401
    (row,) = await inbox_rows(runtime)
    assert row.duplicates == 0
