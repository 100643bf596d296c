"""What a notification says, built from an attempt and its contact (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from campaign_engine.db.models import CallAttempt
from campaign_engine.notifications.payload import (
    ContactView,
    attempt_payload,
    envelope,
    final_payload,
)

ENDED = datetime(2026, 5, 4, 10, 30, 5, 123000, tzinfo=UTC)


def attempt() -> CallAttempt:
    return CallAttempt(
        id=41,
        contact_id=7,
        campaign_id="camp-1",
        attempt_number=2,
        state="ended",
        provider="twilio",
        to_number="+919876543210",
        call_id="call-41",
        session_id="sess-41",
        call_status="completed",
        disposition="voicemail",
        answered_by="machine",
        outcome="voicemail",
        duration_seconds=21.5,
        credits_used=0.75,
        recording_url="https://rec.example/41.mp3",
        extraction={"status": "success", "values": {"callback": "tomorrow"}},
        transcript=[{"role": "assistant", "content": "Hi", "timestamp": None}],
        claimed_at=datetime(2026, 5, 4, 10, 29, tzinfo=UTC),
        started_at=None,
        ended_at=ENDED,
    )


def contact(state: str = "exhausted", next_at: datetime | None = None) -> ContactView:
    return ContactView(
        contact_id=7,
        campaign_id="camp-1",
        phone="+919876543210",
        variables={"name": "Asha"},
        state=state,
        attempts_count=2,
        last_outcome="voicemail",
        next_attempt_at=next_at,
    )


def test_attempt_payload_carries_the_whole_outcome_the_attempt_number_and_the_final_flag() -> None:
    payload = attempt_payload(attempt(), contact(), final=True)

    assert payload["attempt_number"] == 2
    assert payload["final"] is True
    assert (payload["contact_id"], payload["phone"], payload["variables"]) == (
        7,
        "+919876543210",
        {"name": "Asha"},
    )
    details = payload["attempt"]
    assert (details["outcome"], details["disposition"], details["answered_by"]) == (
        "voicemail",
        "voicemail",
        "machine",
    )
    assert details["duration_seconds"] == 21.5
    assert details["extraction"] == {"status": "success", "values": {"callback": "tomorrow"}}
    assert details["ended_at"] == "2026-05-04T10:30:05.123Z"
    assert details["started_at"] is None


def test_attempt_payload_of_a_retry_says_when_the_next_attempt_is_due() -> None:
    due = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    payload = attempt_payload(attempt(), contact("retrying", due), final=False)

    assert payload["final"] is False
    assert (payload["contact_state"], payload["next_attempt_at"]) == (
        "retrying",
        "2026-05-04T12:00:00.000Z",
    )


def test_final_payload_gives_the_contacts_result_and_the_attempt_that_settled_it() -> None:
    payload = final_payload(attempt(), contact())

    assert payload["final"] is True
    assert (payload["state"], payload["attempts"], payload["last_outcome"]) == (
        "exhausted",
        2,
        "voicemail",
    )
    assert payload["last_attempt"]["id"] == 41


def test_payloads_survive_a_json_column_unchanged() -> None:
    for payload in (
        attempt_payload(attempt(), contact(), final=True),
        final_payload(attempt(), contact()),
    ):
        assert json.loads(json.dumps(payload)) == payload


def test_envelope_names_the_event_and_carries_the_stable_id() -> None:
    body = envelope(99, "final", ENDED, {"x": 1})
    assert body == {
        "event": "contact.final",
        "id": 99,
        "created_at": "2026-05-04T10:30:05.123Z",
        "data": {"x": 1},
    }
    assert envelope(5, "attempt", ENDED, {})["event"] == "attempt.outcome"
