"""Which attempt a webhook event reports on: by call id, then session id, else the attempt
id the agent echoed back — trusted only when the number agrees with the one dialed."""

from __future__ import annotations

from typing import Any

from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.schemas import SessionCompletedEvent
from campaign_engine.webhooks.matching import (
    MAX_ATTEMPT_ID,
    Candidate,
    by_ids,
    echo_trusted,
    echoed_id,
    find_attempts,
)

from .conftest import PHONE, event_body, make_attempt

ECHO = "ce_attempt_id"


def event(**body: Any) -> SessionCompletedEvent:
    return SessionCompletedEvent.model_validate_json(event_body(**body))


def test_an_echoed_attempt_id_is_read_from_digits_only_and_within_the_ids_range() -> None:
    assert echoed_id(event(variables={ECHO: "42"}), ECHO) == 42
    assert echoed_id(event(variables={ECHO: 42}), ECHO) == 42
    assert echoed_id(event(variables={ECHO: str(MAX_ATTEMPT_ID)}), ECHO) == MAX_ATTEMPT_ID
    assert echoed_id(event(variables={ECHO: str(MAX_ATTEMPT_ID + 1)}), ECHO) is None
    assert echoed_id(event(variables={ECHO: "42abc"}), ECHO) is None
    assert echoed_id(event(variables={ECHO: "-3"}), ECHO) is None
    assert echoed_id(event(variables={"name": "Asha"}), ECHO) is None


def test_the_call_id_wins_over_the_session_id() -> None:
    found = event(session_id="sess-1", call_id="call-1")
    assert by_ids(found, {"call-1": 1}, {"sess-1": 2}) == 1
    assert by_ids(found, {"call-other": 1}, {"sess-1": 2}) == 2
    assert by_ids(event(session_id="sess-1", call_id=None), {}, {"sess-1": 2}) == 2
    assert by_ids(found, {}, {}) is None


def test_an_echo_is_trusted_only_when_the_event_names_no_other_number() -> None:
    attempt = Candidate(1, None, None, PHONE)
    assert echo_trusted(event(to_number=PHONE), attempt)
    assert echo_trusted(event(call_id=None), attempt)
    assert not echo_trusted(event(to_number="+919800000009"), attempt)


async def test_a_batch_is_matched_by_call_id_session_id_and_trusted_echo(
    runtime: Runtime,
) -> None:
    # A number each (one number is in one open attempt at a time); the echoed one's is
    # the events' default number.
    by_call = await make_attempt(
        runtime, call_id="call-a", session_id="sess-a", phone="+919800000001"
    )
    by_session = await make_attempt(
        runtime, call_id=None, session_id="sess-b", phone="+919800000002"
    )
    echoed = await make_attempt(runtime, call_id=None, session_id=None)
    wrong_number = await make_attempt(runtime, call_id=None, session_id=None, phone="+919800000003")
    events = [
        (1, event(session_id="sess-x", call_id="call-a")),
        (2, event(session_id="sess-b", call_id="call-b")),
        (3, event(session_id="sess-c", call_id="call-c", variables={ECHO: echoed.attempt_id})),
        (
            4,
            event(
                session_id="sess-d",
                call_id="call-d",
                to_number="+919800000009",
                variables={ECHO: str(wrong_number.attempt_id)},
            ),
        ),
        (5, event(session_id="sess-e", call_id="call-e")),
        (6, event(session_id="sess-f", call_id="call-f", variables={ECHO: "999999"})),
    ]

    async with runtime.sessions() as session:
        found = await find_attempts(session, events, ECHO)

    assert found == {1: by_call.attempt_id, 2: by_session.attempt_id, 3: echoed.attempt_id}


async def test_an_empty_batch_matches_nothing_without_reading(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        assert await find_attempts(session, [], ECHO) == {}
