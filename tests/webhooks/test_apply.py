"""From a stored event to a recorded outcome: matching, the retry policy, forward-only."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import update

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.dialer.attempts import mark_started
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.schemas import SessionCompletedEvent
from campaign_engine.webhooks import apply, inbox
from campaign_engine.webhooks.apply import process_event, process_events, waiting_events

from .conftest import (
    PHONE,
    deliver,
    event_body,
    inbox_rows,
    load_attempt,
    load_contact,
    make_attempt,
)

# Deterministic: no jitter, so the retry time is exactly ``delay_seconds`` after the outcome.
POLICY = RetryPolicy(
    max_attempts=3,
    rules={
        Outcome.NO_ANSWER: RetryRule(max_retries=2, delay_seconds=600, jitter=0),
        Outcome.BUSY: RetryRule(retry=False),
    },
)


async def test_event_for_a_started_attempt_records_the_whole_outcome_on_it(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    body = event_body(session_id="sess-1", call_id="call-1", answered_by="human")
    response = await deliver(client, body)

    assert response.status_code == 200
    attempt = await load_attempt(runtime, made.attempt_id)
    assert attempt.state == "ended"
    assert (attempt.call_status, attempt.disposition, attempt.answered_by) == (
        "completed",
        "completed",
        "human",
    )
    assert attempt.outcome == "completed"
    assert attempt.duration_seconds == 42.5
    assert attempt.credits_used == 1.25
    assert attempt.recording_url == "https://recordings.example/sess-1.mp3"
    assert attempt.transcript == [
        {"role": "assistant", "content": "Hello, is this Asha?", "timestamp": None},
        {"role": "user", "content": "Yes, speaking.", "timestamp": None},
    ]
    assert attempt.ended_at is not None
    [row] = await inbox_rows(runtime)
    assert (row.status, row.attempt_id) == ("applied", made.attempt_id)
    assert row.processed_at is not None


@pytest.mark.parametrize(
    ("status", "disposition", "contact_state", "retry"),
    [
        ("completed", "completed", "completed", False),
        ("no_answer", None, "retrying", True),
        ("busy", None, "exhausted", False),  # the policy does not retry busy
        ("completed", "blocked", "failed", False),
    ],
)
async def test_contact_moves_as_the_retry_policy_says_for_the_outcome(
    runtime: Runtime,
    client: httpx.AsyncClient,
    status: str,
    disposition: str | None,
    contact_state: str,
    retry: bool,
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    before = utcnow()
    await deliver(client, event_body(status=status, disposition=disposition))
    after = utcnow()

    contact = await load_contact(runtime, made.contact_id)
    attempt = await load_attempt(runtime, made.attempt_id)
    assert contact.state == contact_state
    assert contact.last_outcome == attempt.outcome
    if retry:
        assert contact.next_attempt_at is not None
        delay = timedelta(seconds=600)
        assert before + delay <= contact.next_attempt_at <= after + delay
    else:
        assert contact.next_attempt_at is None


async def test_applied_event_releases_the_attempts_concurrency_lease(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    lease = f"{made.contact_id}:1"
    keys = [runtime.keys.slots(name) for name in slot_names_for("twilio", made.campaign_id)]
    far = 10**15
    for key in keys:
        await runtime.redis.zadd(key, {lease: far, "someone-else": far})

    await deliver(client, event_body())

    for key in keys:
        assert await runtime.redis.zrange(key, 0, -1) == [b"someone-else"]


async def test_late_event_never_changes_an_attempt_that_is_already_final(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(
        runtime,
        attempt_state="ended",
        contact_state="exhausted",
        outcome="busy",
        call_status="busy",
        ended_at=utcnow(),
    )
    response = await deliver(client, event_body(status="completed", disposition="completed"))

    assert response.status_code == 200
    attempt = await load_attempt(runtime, made.attempt_id)
    assert (attempt.state, attempt.outcome, attempt.call_status) == ("ended", "busy", "busy")
    assert attempt.transcript is None and attempt.recording_url is None
    contact = await load_contact(runtime, made.contact_id)
    assert (contact.state, contact.last_outcome) == ("exhausted", None)
    [row] = await inbox_rows(runtime)
    assert (row.status, row.attempt_id) == ("ignored", made.attempt_id)


async def test_second_event_for_the_same_call_after_the_outcome_is_recorded_is_ignored(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    await deliver(client, event_body(session_id="sess-1", status="no_answer", disposition=None))
    replay = event_body(session_id="sess-other", status="completed", disposition="completed")
    await deliver(client, replay)

    attempt = await load_attempt(runtime, made.attempt_id)
    assert (attempt.outcome, attempt.call_status) == ("no_answer", "no_answer")
    assert (await load_contact(runtime, made.contact_id)).state == "retrying"
    assert [row.status for row in await inbox_rows(runtime)] == ["applied", "ignored"]


async def test_duplicate_delivery_after_the_outcome_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    body = event_body(status="no_answer", disposition=None)
    await deliver(client, body)
    first = await load_attempt(runtime, made.attempt_id)
    contact_first = await load_contact(runtime, made.contact_id)

    assert (await deliver(client, body)).json()["duplicate"] is True
    again = await load_attempt(runtime, made.attempt_id)
    assert (again.ended_at, again.updated_at) == (first.ended_at, first.updated_at)
    contact_again = await load_contact(runtime, made.contact_id)
    assert contact_again.next_attempt_at == contact_first.next_attempt_at


async def test_processing_an_already_processed_event_again_returns_its_status_unchanged(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await make_attempt(runtime, policy=POLICY)
    event_id = (await deliver(client, event_body())).json()["event_id"]

    assert await process_event(runtime, event_id) == "applied"
    assert await process_event(runtime, 10**9) == "missing"


async def test_event_before_the_start_response_is_unmatched_then_applied_once_ids_are_stored(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(
        runtime, attempt_state="dialing", contact_state="dialing", call_id=None, session_id=None
    )
    body = event_body(session_id="sess-early", call_id="call-early", variables={"name": "Asha"})
    response = await deliver(client, body)

    assert response.status_code == 200
    [row] = await inbox_rows(runtime)
    assert (row.status, row.attempt_id) == ("unmatched", None)
    assert (await load_attempt(runtime, made.attempt_id)).state == "dialing"

    async with runtime.sessions() as session, session.begin():
        await mark_started(session, made.attempt_id, call_id="call-early", session_id="sess-early")
    assert (await load_contact(runtime, made.contact_id)).state == "calling"
    async with runtime.sessions() as session:
        waiting = await waiting_events(session, call_id="call-early", session_id="sess-early")
    assert await process_events(runtime, waiting) == ["applied"]

    [row] = await inbox_rows(runtime)
    assert (row.status, row.attempt_id) == ("applied", made.attempt_id)
    attempt = await load_attempt(runtime, made.attempt_id)
    assert (attempt.state, attempt.outcome) == ("ended", "completed")
    assert (await load_contact(runtime, made.contact_id)).state == "completed"


async def test_waiting_events_of_another_call_or_of_no_ids_are_not_applied(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await make_attempt(
        runtime, attempt_state="dialing", contact_state="dialing", call_id=None, session_id=None
    )
    await deliver(client, event_body(session_id="sess-x", call_id="call-x"))

    async with runtime.sessions() as session:
        other = await waiting_events(session, call_id="call-y", session_id="sess-y")
        none = await waiting_events(session, call_id=None, session_id=None)
    assert (other, none) == ([], [])
    await process_events(runtime, other + none)

    assert [row.status for row in await inbox_rows(runtime)] == ["unmatched"]


async def test_echoed_attempt_id_matches_an_attempt_that_has_no_ids_yet(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(
        runtime, attempt_state="dialing", contact_state="dialing", call_id=None, session_id=None
    )
    variables = {"name": "Asha", "ce_attempt_id": str(made.attempt_id)}
    body = event_body(session_id="sess-echo", call_id="call-echo", variables=variables)
    await deliver(client, body)

    [row] = await inbox_rows(runtime)
    assert (row.status, row.attempt_id) == ("applied", made.attempt_id)
    attempt = await load_attempt(runtime, made.attempt_id)
    assert (attempt.state, attempt.outcome) == ("ended", "completed")
    # The ids the start response never delivered are taken from the event.
    assert (attempt.call_id, attempt.session_id) == ("call-echo", "sess-echo")


async def test_echoed_attempt_id_is_not_trusted_when_the_dialed_number_differs(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(
        runtime, attempt_state="dialing", contact_state="dialing", call_id=None, session_id=None
    )
    assert PHONE != "+919999999999"
    variables = {"ce_attempt_id": str(made.attempt_id)}
    await deliver(client, event_body(to_number="+919999999999", variables=variables))

    assert [row.status for row in await inbox_rows(runtime)] == ["unmatched"]
    assert (await load_attempt(runtime, made.attempt_id)).state == "dialing"


@pytest.mark.parametrize(
    "echo", ["not-a-number", "", "12abc", "9223372036854775808", "99999999999999999999999"]
)
async def test_echoed_value_that_is_not_an_attempt_id_leaves_the_event_unmatched(
    runtime: Runtime, client: httpx.AsyncClient, echo: str
) -> None:
    await make_attempt(
        runtime, attempt_state="dialing", contact_state="dialing", call_id=None, session_id=None
    )
    await deliver(client, event_body(variables={"ce_attempt_id": echo}))

    assert [row.status for row in await inbox_rows(runtime)] == ["unmatched"]


async def test_a_late_event_for_an_earlier_attempt_arriving_after_the_retrys_own_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Out of order: attempt 1 ended (no answer) and attempt 2 is in its call; attempt 2's
    outcome arrives, then a late copy of attempt 1's event under another session."""
    made = await make_attempt(runtime, policy=POLICY)
    await deliver(client, event_body(session_id="sess-1", status="no_answer", disposition=None))
    async with runtime.sessions() as session, session.begin():
        second = CallAttempt(
            contact_id=made.contact_id,
            campaign_id=made.campaign_id,
            attempt_number=2,
            state="started",
            provider="twilio",
            to_number=PHONE,
            call_id="call-2",
            session_id="sess-2",
            deadline_at=utcnow() + timedelta(hours=1),
        )
        session.add(second)
        await session.execute(
            update(Contact).where(Contact.id == made.contact_id).values(state="calling")
        )
        await session.flush()
        second_id = second.id

    await deliver(client, event_body(session_id="sess-2", call_id="call-2"))
    late = event_body(session_id="sess-1-again", call_id="call-1", status="completed")
    assert (await deliver(client, late)).status_code == 200

    first = await load_attempt(runtime, made.attempt_id)
    assert (first.outcome, first.call_status) == ("no_answer", "no_answer")
    assert (await load_attempt(runtime, second_id)).outcome == "completed"
    contact = await load_contact(runtime, made.contact_id)
    assert (contact.state, contact.last_outcome) == ("completed", "completed")
    assert [row.status for row in await inbox_rows(runtime)] == ["applied", "applied", "ignored"]


async def test_an_event_the_database_can_never_take_is_set_aside_and_the_batch_goes_on(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await make_attempt(runtime)
    poison = await stored(runtime, event_body(session_id="sess-poison", call_id="call-poison"))
    good = await stored(runtime, event_body())  # the attempt's own outcome
    real = apply._process

    async def refuse_poison(runtime: Runtime, event_ids: list[int]) -> Any:
        if poison in event_ids:  # as PostgreSQL refuses a value too long for its column
            raise sa_exc.DataError("UPDATE ...", {}, Exception("value too long for type"))
        return await real(runtime, event_ids)

    monkeypatch.setattr(apply, "_process", refuse_poison)

    assert await apply.process_events(runtime, [poison, good]) == ["invalid", "applied"]
    rows = {row.id: row for row in await inbox_rows(runtime)}
    assert rows[poison].status == "invalid"
    assert "could not be applied" in (rows[poison].error or "")
    assert (await load_attempt(runtime, made.attempt_id)).state == "ended"
    # Alone, it is set aside too; a failure that may pass next time is raised, not kept.
    another = await stored(runtime, event_body(session_id="sess-p2", call_id="call-p2"))

    async def connection_lost(runtime: Runtime, event_ids: list[int]) -> Any:
        raise sa_exc.OperationalError("SELECT ...", {}, Exception("connection lost"))

    monkeypatch.setattr(apply, "_process", connection_lost)
    with pytest.raises(sa_exc.OperationalError):
        await apply.process_events(runtime, [another])
    assert {row.id: row.status for row in await inbox_rows(runtime)}[another] == "received"


async def stored(runtime: Runtime, body: bytes) -> int:
    """An event in the inbox, not yet processed."""
    event = SessionCompletedEvent.model_validate_json(body)
    row = inbox.event_values(
        session_id=event.data.session_id,
        call_id=event.data.call.call_id if event.data.call else None,
        event_type=event.event,
        raw_body=body,
        headers={},
        received_at=utcnow(),
    )
    async with runtime.sessions() as session, session.begin():
        ids = await inbox.store_many(session, [row])
    event_id = ids[event.data.session_id]
    assert event_id is not None
    return event_id


async def test_an_event_another_process_is_applying_is_left_to_it_and_applied_once(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    event_id = await stored(runtime, event_body(session_id="sess-1", call_id="call-1"))

    async with runtime.sessions() as first, first.begin():
        # One process (a server) is applying the event, not yet committed...
        applying = await apply._apply(first, runtime, [event_id])
        assert applying[event_id].status == "applied"
        # ...when another (a second server, the sweep) takes it up too.
        second = asyncio.create_task(process_events(runtime, [event_id]))
        if first.get_bind().dialect.name == "postgresql":
            # It skips the locked event at once rather than waiting to apply it again.
            assert await asyncio.wait_for(asyncio.shield(second), 20) == ["received"]
    # (On SQLite it waits for the single writer, then finds the event applied.)
    assert await second in (["received"], ["applied"])

    [row] = await inbox_rows(runtime)
    assert (row.status, row.attempt_id) == ("applied", made.attempt_id)
    attempt = await load_attempt(runtime, made.attempt_id)
    assert (attempt.state, attempt.outcome) == ("ended", "completed")
