"""The HTTP contract: envelope, auth, validation, limits, faults, listing and lookup."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from campaign_engine.simulator import SimAgent
from campaign_engine.simulator.knobs import DEFAULT_SIP_CONNECTION_ID, SimConnection

from .conftest import AGENT_ID, SimFactory, fast_config, start_body

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SLOW_CALLS = {"time_scale": 1.0, "ring_seconds": (30, 30)}  # calls stay active during a test
INSTANT = {"processing_seconds": (0, 0)}
CONN_A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
CONN_B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message"}
    return error


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer rg_live_wrong"}])
async def test_missing_or_wrong_key_answers_401_envelope(
    sim: SimFactory, headers: dict[str, str]
) -> None:
    async with sim() as (client, simulator):
        client.headers.pop("Authorization")
        response = await client.get("/config", headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"
        assert simulator.ledger.requests_total == 1


async def test_key_in_query_string_is_not_accepted(sim: SimFactory) -> None:
    async with sim() as (client, _):
        client.headers.pop("Authorization")
        response = await client.get("/config", params={"api_key": "rg_live_test"})
        assert response.status_code == 401


async def test_unknown_route_answers_404_envelope(sim: SimFactory) -> None:
    async with sim() as (client, _):
        response = await client.get("/nope")
        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"
        outside = await client.get("http://sim/elsewhere")
        assert error_of(outside)["code"] == "NOT_FOUND"


async def test_wrong_method_answers_405_envelope(sim: SimFactory) -> None:
    async with sim() as (client, _):
        response = await client.delete("/config")
        assert response.status_code == 405
        assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"


async def test_config_lists_allowed_and_configured_providers(sim: SimFactory) -> None:
    config = fast_config(allowed_providers=["twilio", "plivo"], configured_providers=["twilio"])
    async with sim(config) as (client, _):
        data = (await client.get("/config")).json()["data"]
    assert data == {
        "allowed_telephony_providers": ["twilio", "plivo"],
        "telephony": {
            "twilio": {"configured": True, "from_number": "+14155550100"},
            "plivo": {"configured": False, "from_number": None},
        },
    }


async def test_default_config_allows_voicelink_and_has_no_sip_entry(sim: SimFactory) -> None:
    async with sim() as (client, _):
        data = (await client.get("/config")).json()["data"]
        connections = (await client.get("/telephony/connections")).json()["data"]
    assert "voicelink" in data["allowed_telephony_providers"]
    assert "sip" in data["allowed_telephony_providers"]
    assert data["telephony"]["voicelink"]["configured"] is True
    assert "sip" not in data["telephony"]  # SIP is set up through connections only
    assert connections == {
        "connections": [
            {
                "connection_id": DEFAULT_SIP_CONNECTION_ID,
                "provider": "sip",
                "status": "active",
                "is_default": True,
                "phone_numbers": ["+14155550199"],
            }
        ]
    }


async def test_config_may_omit_allowed_providers_like_the_onboarding_example(
    sim: SimFactory,
) -> None:
    config = fast_config(
        config_lists_allowed_providers=False,
        allowed_providers=["twilio"],
        configured_providers=["plivo"],
    )
    async with sim(config) as (client, _):
        data = (await client.get("/config")).json()["data"]
        assert "allowed_telephony_providers" not in data
        # then what is set up is allowed: plivo (configured) and sip (a connection) ...
        for provider in ("plivo", "sip"):
            body = start_body(provider=provider)
            assert (await client.post("/calls/start", json=body)).status_code == 200
        # ... and twilio, neither configured nor connected, is not
        refused = await client.post("/calls/start", json=start_body(provider="twilio"))
        assert refused.status_code == 403


async def test_sip_call_goes_through_the_default_connection(sim: SimFactory) -> None:
    async with sim() as (client, simulator):
        response = await client.post("/calls/start", json=start_body(provider="sip"))
        assert response.status_code == 200
        assert response.json()["data"]["from_number"] == "+14155550199"
        assert simulator.ledger.calls[0].provider == "sip"


async def test_start_names_a_connection_of_its_provider(sim: SimFactory) -> None:
    connections = [
        SimConnection(connection_id=CONN_A, provider="twilio", phone_numbers=["+14155550111"]),
        SimConnection(connection_id=CONN_B, provider="twilio", phone_numbers=["+14155550122"]),
        SimConnection(
            connection_id="cccccccc-cccc-4ccc-8ccc-cccccccccccc",
            provider="twilio",
            status="inactive",
        ),
    ]
    config = fast_config(connections=connections, configured_providers=["mcube"])
    async with sim(config) as (client, simulator):
        chosen = await client.post(
            "/calls/start", json=start_body(provider="twilio", connection_id=CONN_B.upper())
        )
        assert chosen.status_code == 200
        assert chosen.json()["data"]["from_number"] == "+14155550122"
        several = await client.post("/calls/start", json=start_body(provider="twilio"))
        assert several.status_code == 400
        assert "connection_id is required" in error_of(several)["message"]
        unknown = await client.post(
            "/calls/start",
            json=start_body(
                provider="twilio", connection_id="dddddddd-dddd-4ddd-8ddd-dddddddddddd"
            ),
        )
        assert unknown.status_code == 404
        assert error_of(unknown)["code"] == "NOT_FOUND"
        assert "connection" in error_of(unknown)["message"]
        inactive = await client.post(
            "/calls/start",
            json=start_body(
                provider="twilio", connection_id="cccccccc-cccc-4ccc-8ccc-cccccccccccc"
            ),
        )
        assert inactive.status_code == 400
        assert "inactive" in error_of(inactive)["message"]
        other = await client.post(
            "/calls/start", json=start_body(provider="sip", connection_id=CONN_A)
        )
        assert other.status_code == 400
        assert error_of(other)["code"] == "VALIDATION_ERROR"
        assert len(simulator.ledger.calls) == 1


async def test_provider_without_credentials_or_connection_is_not_configured(
    sim: SimFactory,
) -> None:
    config = fast_config(connections=[], configured_providers=["mcube"])
    async with sim(config) as (client, _):
        response = await client.post("/calls/start", json=start_body(provider="sip"))
        assert response.status_code == 400
        assert "provider not configured" in error_of(response)["message"]


async def test_voicelink_is_a_provider(sim: SimFactory) -> None:
    async with sim() as (client, _):
        response = await client.post("/calls/start", json=start_body(provider="voicelink"))
        assert response.status_code == 200
        assert response.json()["data"]["provider"] == "voicelink"


async def test_agent_without_a_duration_cap_reports_null(sim: SimFactory) -> None:
    agent = SimAgent(agent_id=AGENT_ID, name="Old", max_call_duration_secs=None)
    async with sim(fast_config(agents=[agent])) as (client, _):
        data = (await client.get(f"/agent/{AGENT_ID}")).json()["data"]
    assert data["max_call_duration_secs"] is None


async def test_get_agent_returns_declared_variables(sim: SimFactory) -> None:
    async with sim() as (client, _):
        body = (await client.get(f"/agent/{AGENT_ID}")).json()
    assert body["success"] is True
    assert body["data"] == {
        "agent_id": AGENT_ID,
        "name": "Demo agent",
        "variables": ["name", "due_amount", "ce_attempt_id"],
        "voicemail_detection_enabled": True,
        "voicemail_message": None,
        "max_call_duration_secs": 600,
        "agent_type": "outbound",
    }


async def test_get_unknown_agent_is_404(sim: SimFactory) -> None:
    async with sim() as (client, _):
        response = await client.get("/agent/11111111-1111-4111-8111-111111111111")
        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"


async def test_start_call_answers_pending_with_fresh_uuids(sim: SimFactory) -> None:
    async with sim() as (client, simulator):
        response = await client.post("/calls/start", json=start_body(provider="twilio"))
        assert response.status_code == 200
        data = response.json()["data"]
        assert simulator.ledger.calls[0].call_id == data["call_id"]
    assert UUID4.match(data["call_id"]) and UUID4.match(data["session_id"])
    assert {k: v for k, v in data.items() if k not in ("call_id", "session_id")} == {
        "status": "pending",
        "provider": "twilio",
        "from_number": "+14155550100",
        "to_number": "+919876543210",
        "agent_id": AGENT_ID,
    }


async def test_start_call_defaults_provider_to_mcube(sim: SimFactory) -> None:
    async with sim() as (client, _):
        data = (await client.post("/calls/start", json=start_body())).json()["data"]
    assert data["provider"] == "mcube"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        ({"to_number": "+919876543210"}, "agent_id is required"),
        ({"agent_id": "agent-1", "to_number": "+919876543210"}, "agent_id must be a UUID"),
        ({"agent_id": AGENT_ID}, "to_number is required"),
        ({"agent_id": AGENT_ID, "to_number": "9876543210"}, "E.164"),
        ({"agent_id": AGENT_ID, "to_number": "+0123456789"}, "E.164"),
        (start_body(provider="telnyx"), "provider must be one of"),
        (start_body(provider="TWILIO"), "provider must be one of"),
        (start_body(variables=["name"]), "variables must be an object"),
        (start_body(variables={"name": {"first": "A"}}), "variables.name"),
        (start_body(connection_id="conn-1"), "connection_id"),
    ],
)
async def test_start_call_rejects_malformed_body(
    sim: SimFactory, body: bytes | dict[str, Any], fragment: str
) -> None:
    async with sim() as (client, simulator):
        if isinstance(body, bytes):
            response = await client.post("/calls/start", content=body)
        else:
            response = await client.post("/calls/start", json=body)
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "VALIDATION_ERROR"
        assert fragment in error["message"]
        assert simulator.ledger.calls == []


async def test_start_call_rejects_undeclared_variable(sim: SimFactory) -> None:
    async with sim() as (client, _):
        response = await client.post(
            "/calls/start", json=start_body(variables={"name": "A", "callee_name": "B"})
        )
        assert response.status_code == 400
        assert "callee_name" in error_of(response)["message"]


async def test_start_call_accepts_declared_variables_and_echoes_them(sim: SimFactory) -> None:
    variables = {"name": "Asha", "due_amount": 1200, "ce_attempt_id": "att-9"}
    async with sim() as (client, simulator):
        response = await client.post("/calls/start", json=start_body(variables=variables))
        assert response.status_code == 200
        assert simulator.ledger.calls[0].variables == variables


async def test_start_call_unknown_agent_is_404(sim: SimFactory) -> None:
    body = {"agent_id": "11111111-1111-4111-8111-111111111111", "to_number": "+919876543210"}
    async with sim() as (client, _):
        response = await client.post("/calls/start", json=body)
        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"


async def test_start_call_provider_not_allowed_is_403(sim: SimFactory) -> None:
    async with sim(fast_config(allowed_providers=["twilio"])) as (client, _):
        response = await client.post("/calls/start", json=start_body(provider="plivo"))
        assert response.status_code == 403
        error = error_of(response)
        assert error["code"] == "FORBIDDEN"
        assert "provider not allowed" in error["message"]


async def test_start_call_provider_not_configured_is_400(sim: SimFactory) -> None:
    config = fast_config(allowed_providers=["twilio", "plivo"], configured_providers=["twilio"])
    async with sim(config) as (client, _):
        response = await client.post("/calls/start", json=start_body(provider="plivo"))
        assert response.status_code == 400
        assert "provider not configured" in error_of(response)["message"]


async def test_calls_endpoints_share_one_rate_window(sim: SimFactory) -> None:
    async with sim(fast_config(calls_per_minute=4)) as (client, simulator):
        call_id = (await client.post("/calls/start", json=start_body())).json()["data"]["call_id"]
        assert (await client.get("/calls")).status_code == 200
        assert (await client.get(f"/calls/{call_id}")).status_code == 200
        assert (await client.get("/calls/concurrency")).status_code == 200
        for path in ("/calls", f"/calls/{call_id}", "/calls/concurrency"):
            response = await client.get(path)
            assert response.status_code == 429
            assert error_of(response)["code"] == "RATE_LIMITED"
        limited = await client.post("/calls/start", json=start_body())
        assert error_of(limited)["code"] == "RATE_LIMITED"
        assert "retry-after" not in limited.headers
        assert (await client.get("/config")).status_code == 200  # a different budget
        assert simulator.ledger.responses_429["rate"] == 4
        assert simulator.ledger.max_calls_requests_in_window == 4


async def test_general_endpoints_have_their_own_limit(sim: SimFactory) -> None:
    async with sim(fast_config(general_per_minute=2, calls_per_minute=1)) as (client, _):
        assert (await client.get("/config")).status_code == 200
        assert (await client.get(f"/agent/{AGENT_ID}")).status_code == 200
        assert (await client.get("/config")).status_code == 429
        assert (await client.get("/calls")).status_code == 200


async def test_rate_window_slides_with_the_clock(sim: SimFactory) -> None:
    clock = FakeClock()
    async with sim(fast_config(calls_per_minute=2), clock=clock) as (client, simulator):
        assert (await client.get("/calls")).status_code == 200
        clock.now += 30
        assert (await client.get("/calls")).status_code == 200
        assert (await client.get("/calls")).status_code == 429
        clock.now += 30  # the first request leaves the window
        assert (await client.get("/calls")).status_code == 200
        assert (await client.get("/calls")).status_code == 429
        clock.now += 1000
        simulator.config.rate_window_seconds = 1  # benchmarks shrink the window
        assert (await client.get("/calls")).status_code == 200


async def test_retry_after_sent_only_when_enabled(sim: SimFactory) -> None:
    clock = FakeClock()
    config = fast_config(calls_per_minute=1, send_retry_after=True)
    async with sim(config, clock=clock) as (client, _):
        await client.get("/calls")
        clock.now += 20
        response = await client.get("/calls")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "40"


async def test_the_two_429s_are_the_same_opaque_answer_by_default(sim: SimFactory) -> None:
    config = fast_config(concurrency=1, calls_per_minute=2, **SLOW_CALLS)
    async with sim(config) as (client, simulator):
        assert (await client.post("/calls/start", json=start_body())).status_code == 200
        concurrency = await client.post("/calls/start", json=start_body("+15555550002"))
        assert (await client.get("/calls")).status_code == 200
        rate = await client.get("/calls")
        assert concurrency.status_code == rate.status_code == 429
        assert concurrency.json() == rate.json()
        assert error_of(rate) == {"code": "RATE_LIMITED", "message": "Too many requests"}
        assert dict(concurrency.headers) == dict(rate.headers)
        assert simulator.ledger.responses_429 == {"rate": 1, "concurrency": 1}


async def test_distinct_429s_word_the_rate_limit_apart(sim: SimFactory) -> None:
    async with sim(fast_config(calls_per_minute=1, distinct_429s=True)) as (client, _):
        assert (await client.get("/calls")).status_code == 200
        error = error_of(await client.get("/calls"))
        assert error["code"] == "RATE_LIMITED"
        assert "rate limit" in error["message"]


async def test_concurrency_limit_answers_429_with_distinct_code(sim: SimFactory) -> None:
    config = fast_config(concurrency=2, distinct_429s=True, **SLOW_CALLS)
    async with sim(config) as (client, simulator):
        for number in ("+15555550001", "+15555550002"):
            assert (await client.post("/calls/start", json=start_body(number))).status_code == 200
        response = await client.post("/calls/start", json=start_body("+15555550003"))
        assert response.status_code == 429
        error = error_of(response)
        assert error["code"] == "CONCURRENCY_LIMIT_EXCEEDED"
        assert "concurrency" in error["message"].lower()
        assert simulator.ledger.responses_429 == {"rate": 0, "concurrency": 1}
        assert len(simulator.ledger.calls) == 2


async def test_429_answers_do_not_use_request_budget(sim: SimFactory) -> None:
    config = fast_config(calls_per_minute=3, concurrency=1, **SLOW_CALLS)
    async with sim(config) as (client, simulator):
        assert (await client.post("/calls/start", json=start_body())).status_code == 200
        for _ in range(3):
            assert (await client.post("/calls/start", json=start_body())).status_code == 429
        assert (await client.get("/calls")).status_code == 200
        assert (await client.get("/calls/concurrency")).status_code == 200
        assert (await client.get("/calls")).status_code == 429
        assert simulator.ledger.max_calls_requests_in_window == 3
        assert simulator.ledger.calls_requests_accepted == 3


async def test_concurrency_endpoint_reports_active_and_remaining(sim: SimFactory) -> None:
    async with sim(fast_config(concurrency=3, **SLOW_CALLS)) as (client, _):
        await client.post("/calls/start", json=start_body())
        data = (await client.get("/calls/concurrency")).json()["data"]
    assert data == {
        "limit": 3,
        "limit_source": "partner",
        "active": 1,
        "remaining": 2,
        "statuses_counted": ["PENDING", "RINGING", "IN_PROGRESS"],
    }


async def test_list_calls_newest_first_with_pagination_and_total(sim: SimFactory) -> None:
    config = fast_config(calls_per_minute=100, concurrency=10, list_order="newest")
    async with sim(config) as (client, _):
        ids = []
        for i in range(5):
            body = start_body(f"+1555555000{i}")
            ids.append((await client.post("/calls/start", json=body)).json()["data"]["call_id"])
        page = (await client.get("/calls", params={"limit": 2, "offset": 1})).json()["data"]
        default = (await client.get("/calls")).json()["data"]
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [c["call_id"] for c in page["calls"]] == [ids[3], ids[2]]
    assert default["limit"] == 10
    assert len(default["calls"]) == 5
    assert set(default["calls"][0]) == {
        "call_id",
        "agent_id",
        "session_id",
        "direction",
        "from_number",
        "to_number",
        "status",
        "provider",
        "duration_seconds",
        "error_message",
        "started_at",
        "ended_at",
        "created_at",
    }


async def test_list_calls_oldest_first(sim: SimFactory) -> None:
    config = fast_config(calls_per_minute=100, concurrency=10, list_order="oldest")
    async with sim(config) as (client, _):
        ids = []
        for i in range(3):
            body = start_body(f"+1555555000{i}")
            ids.append((await client.post("/calls/start", json=body)).json()["data"]["call_id"])
        listed = (await client.get("/calls")).json()["data"]["calls"]
    assert [c["call_id"] for c in listed] == ids


async def test_list_calls_default_order_is_stable_across_pages_but_not_by_time(
    sim: SimFactory,
) -> None:
    async with sim(fast_config(calls_per_minute=100, concurrency=40)) as (client, _):
        ids = []
        for i in range(24):
            body = start_body(f"+155555500{i:02d}")
            ids.append((await client.post("/calls/start", json=body)).json()["data"]["call_id"])
        pages: list[str] = []
        for offset in range(0, 24, 10):
            page = await client.get("/calls", params={"limit": 10, "offset": offset})
            pages.extend(c["call_id"] for c in page.json()["data"]["calls"])
        again = (await client.get("/calls", params={"limit": 100})).json()["data"]["calls"]
    assert sorted(pages) == sorted(ids)  # every call once, none repeated or skipped
    assert [c["call_id"] for c in again] == pages
    assert pages not in (ids, ids[::-1])


async def test_list_calls_filters_by_status(sim: SimFactory) -> None:
    config = fast_config(outcome_mix={"busy": 1}, calls_per_minute=100)
    async with sim(config) as (client, simulator):
        await client.post("/calls/start", json=start_body())
        await simulator.drain()
        busy = (await client.get("/calls", params={"status": "BUSY"})).json()["data"]
        completed = (await client.get("/calls", params={"status": "completed"})).json()["data"]
    assert busy["total"] == 1
    assert busy["calls"][0]["status"] == "busy"
    assert completed == {"calls": [], "total": 0, "limit": 10, "offset": 0}


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"offset": "-1"}, {"status": "done"}],
)
async def test_list_calls_rejects_bad_query(sim: SimFactory, params: dict[str, str]) -> None:
    async with sim() as (client, _):
        response = await client.get("/calls", params=params)
        assert response.status_code == 400
        assert error_of(response)["code"] == "VALIDATION_ERROR"


async def test_get_call_includes_session_and_disposition_after_end(sim: SimFactory) -> None:
    config = fast_config(outcome_mix={"voicemail": 1}, expose_disposition=True)
    async with sim(config) as (client, simulator):
        started = (await client.post("/calls/start", json=start_body())).json()["data"]
        await simulator.drain()
        data = (await client.get(f"/calls/{started['call_id']}")).json()["data"]
    assert data["status"] == "completed"
    assert (data["disposition"], data["answered_by"]) == ("voicemail", "machine")
    session = data["session"]
    assert session["session_id"] == started["session_id"]
    assert set(session) == {
        "session_id",
        "duration_seconds",
        "credits_used",
        "transcript",
        "recording_url",
        "status",
        "started_at",
        "ended_at",
    }
    assert session["duration_seconds"] == data["duration_seconds"] > 0
    assert data["processing_complete"] is True
    stamps = (data["created_at"], data["started_at"], data["ended_at"], session["ended_at"])
    for stamp in (*stamps, data["pipeline_completed_at"]):
        assert ISO_Z.match(stamp)


async def test_get_call_omits_disposition_by_default(sim: SimFactory) -> None:
    async with sim(fast_config(outcome_mix={"voicemail": 1})) as (client, simulator):
        call_id = (await client.post("/calls/start", json=start_body())).json()["data"]["call_id"]
        await simulator.drain()
        data = (await client.get(f"/calls/{call_id}")).json()["data"]
        listed = (await client.get("/calls")).json()["data"]["calls"][0]
    assert "disposition" not in data and "answered_by" not in data
    assert "disposition" not in listed and "answered_by" not in listed
    assert data["processing_complete"] is True and data["status"] == "completed"


async def test_ended_call_is_final_and_frees_its_slot_before_processing_is_done(
    sim: SimFactory,
) -> None:
    config = fast_config(
        time_scale=1.0,
        ring_seconds=(0.05, 0.05),
        talk_seconds=(0.05, 0.05),
        processing_seconds=(30, 30),
        outcome_mix={"completed": 1},
        expose_disposition=True,
        calls_per_minute=100,
    )
    async with sim(config) as (client, simulator):
        call_id = (await client.post("/calls/start", json=start_body())).json()["data"]["call_id"]
        for _ in range(500):
            if simulator.ledger.calls[0].ended_at is not None:
                break
            await asyncio.sleep(0.01)
        listed = (await client.get("/calls")).json()["data"]["calls"][0]
        detail = (await client.get(f"/calls/{call_id}")).json()["data"]
        active = (await client.get("/calls/concurrency")).json()["data"]["active"]
        assert simulator.calls.running == 1  # still processing
    assert listed["status"] == detail["status"] == "completed"
    assert listed["ended_at"] and listed["duration_seconds"] == 1
    assert active == 0
    assert (detail["processing_complete"], detail["pipeline_completed_at"]) == (False, None)
    assert (detail["disposition"], detail["answered_by"]) == (None, None)
    session = detail["session"]
    assert (session["transcript"], session["recording_url"]) == ([], None)


async def test_timestamps_follow_the_simulators_skewed_clock(sim: SimFactory) -> None:
    skew = -3600.0
    config = fast_config(clock_skew_seconds=skew, outcome_mix={"completed": 1}, **INSTANT)
    async with sim(config) as (client, simulator):
        before = datetime.now(UTC)
        call_id = (await client.post("/calls/start", json=start_body())).json()["data"]["call_id"]
        await simulator.drain()
        data = (await client.get(f"/calls/{call_id}")).json()["data"]
        after = datetime.now(UTC)
    keys = ("created_at", "started_at", "ended_at", "pipeline_completed_at")
    for key in keys:
        moment = datetime.fromisoformat(data[key].replace("Z", "+00:00"))
        assert before + timedelta(seconds=skew) <= moment + timedelta(milliseconds=1)
        assert moment <= after + timedelta(seconds=skew)


async def test_get_unknown_call_is_404(sim: SimFactory) -> None:
    async with sim() as (client, _):
        response = await client.get("/calls/11111111-1111-4111-8111-111111111111")
        assert response.status_code == 404
        assert error_of(response)["code"] == "NOT_FOUND"


async def test_slow_start_still_places_call(sim: SimFactory) -> None:
    async with sim(fast_config(p_slow=1.0, slow_seconds=0.05)) as (client, simulator):
        response = await client.post("/calls/start", json=start_body())
        assert response.status_code == 200
        assert [c.call_id for c in simulator.ledger.calls] == [response.json()["data"]["call_id"]]
        assert simulator.ledger.slow_responses == 1


async def test_injected_5xx_may_still_place_call(sim: SimFactory) -> None:
    async with sim(fast_config(p_5xx=1.0, p_5xx_places_call=1.0)) as (client, simulator):
        response = await client.post("/calls/start", json=start_body())
        assert response.status_code == 500
        assert error_of(response)["code"] == "INTERNAL_ERROR"
        assert len(simulator.ledger.calls) == 1
        assert simulator.ledger.responses_5xx == 1


async def test_injected_5xx_without_placing_leaves_no_call(sim: SimFactory) -> None:
    async with sim(fast_config(p_5xx=1.0, p_5xx_places_call=0.0)) as (client, simulator):
        response = await client.post("/calls/start", json=start_body())
        assert response.status_code == 500
        assert simulator.ledger.calls == []
        listing = await client.get("/calls")
        assert error_of(listing)["code"] == "INTERNAL_ERROR"


async def test_knobs_can_be_turned_while_running(sim: SimFactory) -> None:
    async with sim() as (client, simulator):
        simulator.config.p_5xx = 1.0
        simulator.config.p_5xx_places_call = 0.0
        assert (await client.post("/calls/start", json=start_body())).status_code == 500
        simulator.config.p_5xx = 0.0
        assert (await client.post("/calls/start", json=start_body())).status_code == 200


async def test_same_seed_gives_same_outcomes(sim: SimFactory) -> None:
    async def outcomes() -> list[str]:
        config = fast_config(seed=42, calls_per_minute=100, concurrency=20)
        async with sim(config) as (client, simulator):
            for i in range(12):
                await client.post("/calls/start", json=start_body(f"+1555555{i:04d}"))
            await simulator.drain()
            return [str(call.disposition) for call in simulator.ledger.calls]

    assert await outcomes() == await outcomes()


async def test_agents_are_configurable(sim: SimFactory) -> None:
    agent = SimAgent(
        agent_id="22222222-2222-4222-8222-222222222222", name="Collections", variables=["x"]
    )
    async with sim(fast_config(agents=[agent])) as (client, _):
        body = {"agent_id": agent.agent_id, "to_number": "+15555550100", "variables": {"x": "1"}}
        assert (await client.post("/calls/start", json=body)).status_code == 200
        assert (await client.get(f"/agent/{AGENT_ID}")).status_code == 404
