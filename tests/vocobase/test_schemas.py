"""Pins how strictly each Vocobase shape is read: required ids fail loudly, the rest bends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from campaign_engine.vocobase.schemas import (
    Agent,
    Call,
    CallDetail,
    CallList,
    CallStatus,
    Concurrency,
    PartnerConfig,
    SessionCompletedEvent,
    StartCallRequest,
    StartedCall,
)

CONFIG = {
    "allowed_telephony_providers": ["twilio", "plivo", "SIP"],
    "telephony": {
        "Twilio": {"configured": True, "from_number": "+14155551234"},
        "plivo": {"configured": False, "from_number": None},
    },
}

CALL = {
    "call_id": "c1234567-abcd-1234-abcd-123456789012",
    "agent_id": "a1",
    "session_id": "s1",
    "direction": "outbound",
    "from_number": "+14155551234",
    "to_number": "+919876543210",
    "status": "completed",
    "provider": "twilio",
    "duration_seconds": 42.5,
    "error_message": None,
    "started_at": "2025-01-02T03:04:05Z",
    "ended_at": "2025-01-02T03:04:47.500Z",
    "created_at": "2025-01-02T03:04:00Z",
}

WEBHOOK: dict[str, Any] = {
    "event": "session.completed",
    "timestamp": "2025-01-02T03:05:00Z",
    "data": {
        "session_id": "s1",
        "agent_id": "a1",
        "agent_name": "Sales",
        "duration_seconds": 42.5,
        "credits_used": 1.2,
        "processing_complete": True,
        "pipeline_completed_at": "2025-01-02T03:05:00Z",
        "transcript": [{"role": "assistant", "content": "Hello", "timestamp": "0.0"}],
        "recording_url": "https://rec.example/1",
        "variables": {"callee_name": "Sajal", "engine_ref": "x9"},
        "extraction": {"status": "success", "values": {"interested": True}},
        "call": {
            "call_id": "c1",
            "from_number": "+14155551234",
            "to_number": "+919876543210",
            "direction": "outbound",
            "status": "completed",
            "disposition": "voicemail",
            "answered_by": "machine",
        },
    },
}


def test_config_allows_provider_case_insensitively() -> None:
    config = PartnerConfig.model_validate(CONFIG)
    assert config.allows("TWILIO")
    assert config.allows("sip")
    assert not config.allows("mcube")


def test_config_is_configured_by_case_insensitive_key() -> None:
    config = PartnerConfig.model_validate(CONFIG)
    assert config.is_configured("twilio")
    assert not config.is_configured("plivo")
    assert not config.is_configured("sip")


def test_agent_accepts_id_alias_and_agent_id() -> None:
    assert Agent.model_validate({"id": "a1"}).agent_id == "a1"
    assert Agent.model_validate({"agent_id": "a2"}).agent_id == "a2"


def test_agent_null_fields_take_their_defaults_but_a_null_duration_means_no_cap() -> None:
    agent = Agent.model_validate(
        {"id": "a1", "variables": None, "max_call_duration_secs": None, "name": None}
    )
    assert (agent.variables, agent.max_call_duration_secs, agent.name) == ([], None, None)
    assert Agent.model_validate({"id": "a1"}).max_call_duration_secs == 600
    assert agent.voicemail_detection_enabled is False


def test_start_call_request_omits_empty_connection_id() -> None:
    for connection_id in (None, ""):
        request = StartCallRequest(agent_id="a1", to_number="+1", connection_id=connection_id)
        assert request.to_json() == {
            "agent_id": "a1",
            "to_number": "+1",
            "provider": "mcube",
            "variables": {},
        }


def test_start_call_request_sends_connection_id_when_set() -> None:
    request = StartCallRequest(agent_id="a1", to_number="+1", connection_id="k1")
    assert request.to_json()["connection_id"] == "k1"


def test_start_call_request_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        StartCallRequest.model_validate({"agent_id": "a1", "to_number": "+1", "from": "+2"})


@pytest.mark.parametrize("field", ["call_id", "session_id"])
@pytest.mark.parametrize("value", [None, "", "absent"])
def test_started_call_requires_call_id_and_session_id(field: str, value: str | None) -> None:
    data: dict[str, Any] = {"call_id": "c1", "session_id": "s1", field: value}
    if value == "absent":
        del data[field]
    with pytest.raises(ValidationError, match=field):
        StartedCall.model_validate(data)


def test_started_call_survives_missing_echo_fields() -> None:
    started = StartedCall.model_validate({"call_id": "c1", "session_id": "s1"})
    assert (started.status, started.to_number, started.agent_id) == ("pending", None, None)


def test_call_parses_z_timestamps_as_utc() -> None:
    call = Call.model_validate(CALL)
    assert call.started_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert call.ended_at == datetime(2025, 1, 2, 3, 4, 47, 500000, tzinfo=UTC)


def test_naive_timestamp_is_taken_as_utc() -> None:
    call = Call.model_validate({**CALL, "created_at": "2025-01-02T03:04:00"})
    assert call.created_at == datetime(2025, 1, 2, 3, 4, tzinfo=UTC)


def test_unreadable_timestamp_becomes_none() -> None:
    assert Call.model_validate({**CALL, "ended_at": "yesterday"}).ended_at is None


@pytest.mark.parametrize("missing", ["call_id", "status"])
def test_call_requires_call_id_and_status(missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        Call.model_validate({k: v for k, v in CALL.items() if k != missing})


def test_unknown_fields_are_ignored_and_undocumented_ones_kept() -> None:
    call = Call.model_validate({**CALL, "brand_new": 1, "disposition": "voicemail"})
    assert call.disposition == "voicemail"
    assert not hasattr(call, "brand_new")


def test_call_status_final_is_the_terminal_statuses() -> None:
    assert {"completed", "failed", "no_answer", "busy", "canceled"} == CallStatus.FINAL
    assert CallStatus.IN_PROGRESS not in CallStatus.FINAL


def test_call_is_final_ignores_case_and_tolerates_unknown_status() -> None:
    assert Call.model_validate({**CALL, "status": "NO_ANSWER"}).is_final
    assert not Call.model_validate({**CALL, "status": "queued_somewhere"}).is_final


def test_call_detail_carries_session_with_transcript_and_extraction() -> None:
    detail = CallDetail.model_validate(
        {
            **CALL,
            "session": {
                "session_id": "s1",
                "duration_seconds": 42,
                "credits_used": 1.5,
                "transcript": [{"role": "user", "content": "Hi"}],
                "status": "completed",
                "extraction": {"status": "skipped"},
            },
        }
    )
    assert detail.session is not None
    assert detail.session.transcript[0].content == "Hi"
    assert detail.session.extraction is not None
    assert detail.session.extraction.values == {}


def test_call_list_parses_page() -> None:
    page = CallList.model_validate({"calls": [CALL], "total": 31, "limit": 100, "offset": 0})
    assert (len(page.calls), page.total) == (1, 31)


def test_concurrency_parses_live_limit() -> None:
    data = {"limit": 5, "limit_source": "default", "active": 2, "remaining": 3}
    concurrency = Concurrency.model_validate(
        {**data, "statuses_counted": ["PENDING", "RINGING", "IN_PROGRESS"]}
    )
    assert (concurrency.limit, concurrency.remaining) == (5, 3)
    assert "RINGING" in concurrency.statuses_counted


def test_webhook_event_parses_documented_example() -> None:
    event = SessionCompletedEvent.model_validate(WEBHOOK)
    assert event.data.session_id == "s1"
    assert event.data.call is not None
    assert event.data.call.disposition == "voicemail"
    assert event.data.variables["engine_ref"] == "x9"
    assert event.data.extraction is not None
    assert event.data.extraction.values == {"interested": True}


@pytest.mark.parametrize("session_id", [None, "", "absent"])
def test_webhook_event_requires_session_id(session_id: str | None) -> None:
    data = dict(WEBHOOK["data"])
    if session_id == "absent":
        del data["session_id"]
    else:
        data["session_id"] = session_id
    with pytest.raises(ValidationError, match="session_id"):
        SessionCompletedEvent.model_validate({**WEBHOOK, "data": data})


def test_webhook_event_rejects_other_event_names() -> None:
    with pytest.raises(ValidationError, match="event"):
        SessionCompletedEvent.model_validate({**WEBHOOK, "event": "session.started"})


def test_webhook_without_call_block_is_accepted() -> None:
    data = {"session_id": "s1", "transcript": None, "variables": None, "call": None}
    event = SessionCompletedEvent.model_validate({**WEBHOOK, "data": data})
    assert (event.data.call, event.data.transcript, event.data.variables) == (None, [], {})


def test_webhook_call_requires_call_id() -> None:
    data = {**WEBHOOK["data"], "call": {"status": "busy"}}
    with pytest.raises(ValidationError, match="call_id"):
        SessionCompletedEvent.model_validate({**WEBHOOK, "data": data})
