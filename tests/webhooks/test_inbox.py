"""The webhook inbox: one row per session_id, duplicates counted on it, unreadable bodies kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from campaign_engine.db.models import WebhookEvent, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.webhooks.inbox import event_values, store_invalid, store_many

HEADERS = {"x-webhook-timestamp": "2030-01-01T00:00:00.000Z"}


def values(session_id: str, *, body: bytes = b"{}", duplicates: int = 0) -> dict[str, Any]:
    return event_values(
        session_id=session_id,
        call_id=f"call-{session_id}",
        event_type="session.completed",
        raw_body=body,
        headers=HEADERS,
        received_at=utcnow(),
        duplicates=duplicates,
    )


async def _events(runtime: Runtime) -> list[WebhookEvent]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))).all())


def test_event_values_are_a_received_row_with_no_duplicates_by_default() -> None:
    at = utcnow()
    row = event_values(
        session_id="s1",
        call_id=None,
        event_type="session.completed",
        raw_body=b"raw",
        headers={"a": "b"},
        received_at=at,
    )
    assert row == {
        "session_id": "s1",
        "call_id": None,
        "event_type": "session.completed",
        "status": "received",
        "raw_body": b"raw",
        "headers": {"a": "b"},
        "duplicates": 0,
        "received_at": at,
    }


async def test_storing_nothing_touches_nothing(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        assert await store_many(session, []) == {}
    assert await _events(runtime) == []


async def test_new_deliveries_get_their_new_ids(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        stored = await store_many(session, [values("s1", body=b"one"), values("s2")])
    events = await _events(runtime)
    assert stored == {event.session_id: event.id for event in events}
    assert set(stored) == {"s1", "s2"}
    first = events[0]
    assert (first.status, first.raw_body, first.headers, first.duplicates) == (
        "received",
        b"one",
        HEADERS,
        0,
    )
    assert first.call_id == "call-s1"


async def test_a_repeated_delivery_is_counted_on_the_row_already_there(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        first = await store_many(session, [values("s1", body=b"first")])
    async with runtime.sessions() as session, session.begin():
        again = await store_many(session, [values("s1", body=b"replay")])
    async with runtime.sessions() as session, session.begin():
        third = await store_many(session, [values("s1")])

    assert first["s1"] is not None
    assert again == {"s1": None} and third == {"s1": None}
    [event] = await _events(runtime)
    assert event.id == first["s1"]
    assert event.duplicates == 2
    assert event.raw_body == b"first"  # the original body is kept


async def test_duplicates_already_seen_in_a_batch_are_added_to_the_count(
    runtime: Runtime,
) -> None:
    # A batch collapses repeats of one session_id into a row carrying how many it dropped.
    async with runtime.sessions() as session, session.begin():
        stored = await store_many(session, [values("s1", duplicates=2)])
    assert stored["s1"] is not None
    async with runtime.sessions() as session, session.begin():
        again = await store_many(session, [values("s1", duplicates=3)])
    assert again == {"s1": None}
    [event] = await _events(runtime)
    assert event.duplicates == 2 + 3 + 1


async def test_a_batch_of_new_and_known_sessions_tells_them_apart(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        known = await store_many(session, [values("old")])
    async with runtime.sessions() as session, session.begin():
        stored = await store_many(session, [values("old"), values("new", duplicates=1)])
    assert stored["old"] is None
    assert stored["new"] is not None and stored["new"] != known["old"]
    by_session = {event.session_id: event for event in await _events(runtime)}
    assert (by_session["old"].duplicates, by_session["new"].duplicates) == (1, 1)


async def test_store_many_works_on_a_bare_connection(runtime: Runtime) -> None:
    async with runtime.engine.begin() as connection:
        stored = await store_many(connection, [values("conn")])
    [event] = await _events(runtime)
    assert stored == {"conn": event.id}


async def test_an_unreadable_delivery_is_kept_invalid_with_its_reason(runtime: Runtime) -> None:
    before = utcnow() - timedelta(seconds=1)
    async with runtime.sessions() as session, session.begin():
        first = await store_invalid(
            session, raw_body=b"\xff not json", headers=HEADERS, reason="body is not JSON"
        )
        second = await store_invalid(session, raw_body=b"", headers={}, reason="empty")
    events = await _events(runtime)
    assert [event.id for event in events] == [first, second]
    event = events[0]
    assert (event.session_id, event.status, event.error, event.duplicates) == (
        None,
        "invalid",
        "body is not JSON",
        0,
    )
    assert event.raw_body == b"\xff not json"
    assert event.processed_at is not None and event.processed_at >= before
    assert event.received_at == event.processed_at
