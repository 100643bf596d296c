"""Events left behind are applied by the sweep; unmatched ones are retried fairly and set
aside once no attempt can match them; several events are applied in one transaction."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from campaign_engine.db.models import CallAttempt, WebhookEvent, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.webhooks.apply import (
    SET_ASIDE_AFTER_SECONDS,
    UNMATCHED_RETRY_SECONDS,
    process_events,
    set_aside_unmatchable,
    sweep,
)

from .conftest import deliver, event_body, inbox_rows, load_attempt, load_contact, make_attempt


async def age(runtime: Runtime, event_id: int, seconds: float, *, tried: bool = False) -> None:
    moment = utcnow() - timedelta(seconds=seconds)
    values = {"received_at": moment, **({"processed_at": moment} if tried else {})}
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values)
        )


async def store_only(runtime: Runtime, client: httpx.AsyncClient, **body: object) -> int:
    """Store an event as the receiver does, without applying it."""
    from campaign_engine.webhooks.inbox_writer import writer_for

    raw = event_body(**body)  # type: ignore[arg-type]
    session_id = str(body.get("session_id", "sess-1"))
    stored = await writer_for(runtime.engine).store(
        session_id=session_id,
        call_id=str(body.get("call_id", "call-1")),
        event_type="session.completed",
        raw_body=raw,
        headers={},
    )
    assert stored.event_id is not None
    return stored.event_id


async def test_sweep_applies_received_events_left_behind_but_not_fresh_ones(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    old = await make_attempt(runtime)
    new = await make_attempt(runtime, call_id="call-2", session_id="sess-2", phone="+919876543299")
    left = await store_only(runtime, client)
    await store_only(
        runtime, client, session_id="sess-2", call_id="call-2", to_number="+919876543299"
    )
    await age(runtime, left, 10)

    assert await sweep(runtime, older_than_seconds=5) == 1
    assert (await load_attempt(runtime, old.attempt_id)).state == "ended"
    assert (await load_attempt(runtime, new.attempt_id)).state == "started"


async def test_an_unmatched_event_is_retried_at_most_once_per_interval(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(
        runtime, attempt_state="dialing", contact_state="dialing", call_id=None, session_id=None
    )
    await deliver(client, event_body(session_id="sess-late", call_id="call-late"))
    (row,) = await inbox_rows(runtime)
    assert (row.status, row.processed_at is not None) == ("unmatched", True)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == made.attempt_id)
            .values(state="started", call_id="call-late", session_id="sess-late")
        )

    await sweep(runtime, older_than_seconds=5)  # tried just now: not yet again
    assert [r.status for r in await inbox_rows(runtime)] == ["unmatched"]

    await age(runtime, row.id, UNMATCHED_RETRY_SECONDS + 1, tried=True)
    assert await sweep(runtime, older_than_seconds=5) == 1
    assert [r.status for r in await inbox_rows(runtime)] == ["applied"]


async def test_unmatched_events_are_retried_least_recently_tried_first(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    for index in range(3):
        await deliver(client, event_body(session_id=f"foreign-{index}", call_id=f"f-{index}"))
    rows = await inbox_rows(runtime)
    for row, seconds in zip(rows, (100, 300, 200), strict=True):
        await age(runtime, row.id, seconds, tried=True)

    await sweep(runtime, older_than_seconds=5, limit=1)

    after = {row.id: row.processed_at for row in await inbox_rows(runtime)}
    newest = max(after.values())  # type: ignore[type-var]
    assert after[rows[1].id] == newest  # the one tried longest ago went first


async def test_unmatched_events_no_attempt_can_match_any_more_are_set_aside_with_the_reason(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await deliver(client, event_body(session_id="foreign", call_id="call-foreign"))
    (row,) = await inbox_rows(runtime)

    assert await set_aside_unmatchable(runtime) == 0  # too recent to judge
    await age(runtime, row.id, SET_ASIDE_AFTER_SECONDS + 1)
    assert await set_aside_unmatchable(runtime) == 1

    (row,) = await inbox_rows(runtime)
    assert (row.status, row.error) == ("ignored", "no attempt of this engine matches this call")
    assert row.raw_body  # kept for inspection


async def test_an_unmatched_event_is_kept_while_an_older_attempt_may_still_learn_its_ids(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(
        runtime, attempt_state="unknown", contact_state="dialing", call_id=None, session_id=None
    )
    await deliver(client, event_body(session_id="sess-u", call_id="call-u"))
    (row,) = await inbox_rows(runtime)
    await age(runtime, row.id, SET_ASIDE_AFTER_SECONDS + 1)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == made.attempt_id)
            .values(claimed_at=utcnow() - timedelta(seconds=SET_ASIDE_AFTER_SECONDS + 120))
        )

    assert await set_aside_unmatchable(runtime) == 0
    assert [r.status for r in await inbox_rows(runtime)] == ["unmatched"]


async def test_events_applied_together_each_get_their_own_outcome_and_status(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    first = await make_attempt(runtime)
    second = await make_attempt(
        runtime, call_id="call-2", session_id="sess-2", phone="+919876543299"
    )
    ids = [
        await store_only(runtime, client, status="busy", disposition=None),
        await store_only(
            runtime, client, session_id="sess-2", call_id="call-2", to_number="+919876543299"
        ),
        await store_only(runtime, client, session_id="sess-x", call_id="call-x"),
    ]

    statuses = await process_events(runtime, [*ids, 10**9])

    assert statuses == ["applied", "applied", "unmatched", "missing"]
    assert (await load_attempt(runtime, first.attempt_id)).outcome == "busy"
    assert (await load_attempt(runtime, second.attempt_id)).outcome == "completed"


async def test_a_batch_is_applied_in_one_go_with_a_second_event_per_attempt_ignored(
    runtime: Runtime, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    first = await make_attempt(runtime)
    echoed = await make_attempt(
        runtime,
        attempt_state="dialing",
        contact_state="dialing",
        call_id=None,
        session_id=None,
        phone="+919876543298",
    )
    ids = [
        await store_only(runtime, client, status="no_answer", disposition=None),
        await store_only(runtime, client, session_id="sess-again", call_id="call-1"),
        await store_only(
            runtime,
            client,
            session_id="sess-echo",
            call_id="call-echo",
            to_number="+919876543298",
            variables={"ce_attempt_id": str(echoed.attempt_id)},
        ),
    ]

    with caplog.at_level(logging.WARNING):
        statuses = await process_events(runtime, ids)

    assert not [record for record in caplog.records if "one by one" in record.getMessage()]
    assert statuses == ["applied", "ignored", "applied"]
    assert (await load_attempt(runtime, first.attempt_id)).outcome == "no_answer"
    assert (await load_contact(runtime, first.contact_id)).state == "retrying"
    settled = await load_attempt(runtime, echoed.attempt_id)
    assert (settled.state, settled.call_id, settled.session_id) == (
        "ended",
        "call-echo",
        "sess-echo",
    )
    rows = {row.id: row for row in await inbox_rows(runtime)}
    assert [rows[event_id].attempt_id for event_id in ids] == [
        first.attempt_id,
        first.attempt_id,
        echoed.attempt_id,
    ]


async def test_an_unreadable_stored_event_does_not_hold_back_the_others_of_its_batch(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    made = await make_attempt(runtime)
    good = await store_only(runtime, client)
    bad = await store_only(runtime, client, session_id="sess-bad", call_id="call-bad")
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(WebhookEvent).where(WebhookEvent.id == bad).values(raw_body=b"\xff not json")
        )

    statuses = await process_events(runtime, [bad, good])

    assert statuses == ["invalid", "applied"]
    assert (await load_attempt(runtime, made.attempt_id)).state == "ended"
