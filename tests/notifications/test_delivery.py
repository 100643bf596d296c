"""Delivery to the operator's endpoint (a real HTTP server on loopback): signed, retried
with backoff while the endpoint is down, dead after the last try, never sent twice by two
delivering processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from campaign_engine.config import NotificationSettings
from campaign_engine.db.models import utcnow
from campaign_engine.notifications import emit, outbox
from campaign_engine.notifications.delivery import Notifier
from campaign_engine.runtime import Runtime
from tests.conftest import engine_settings
from tests.webhooks.conftest import make_attempt

from .conftest import OperatorEndpoint, free_port, notification_settings, serving
from .support import add_notifications, notifications, webhook


class Clock:
    """Time the notifier sees; moved by hand so no test waits for a backoff."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
async def notifier_for(runtime: Runtime) -> AsyncIterator[Any]:
    made: list[Notifier] = []

    def make(settings: NotificationSettings, clock: Clock | None = None) -> Notifier:
        notifier = Notifier(runtime.sessions, settings, clock=clock or Clock())
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        await notifier.aclose()


async def test_an_outcome_reaches_the_operator_signed_with_a_stable_id_and_is_marked_delivered(
    runtime: Runtime, port: int, notifier_for: Any
) -> None:
    emit.enable(runtime.sessions)
    made = await make_attempt(runtime)
    await webhook(runtime)
    endpoint = OperatorEndpoint()

    async with serving(endpoint, port):
        stats = await notifier_for(notification_settings(port)).deliver_due()

    assert (stats.claimed, stats.delivered) == (2, 2)
    attempt_note, final_note = endpoint.received
    assert all(item.signed_correctly for item in endpoint.received)
    assert attempt_note.json["event"] == "attempt.outcome"
    assert attempt_note.headers["x-notification-id"] == str(attempt_note.json["id"])
    assert attempt_note.json["data"]["attempt"]["id"] == made.attempt_id
    assert attempt_note.json["data"]["attempt_number"] == 1
    assert attempt_note.json["data"]["final"] is True
    assert final_note.json["event"] == "contact.final"
    assert final_note.json["data"]["state"] == "completed"
    rows = await notifications(runtime)
    assert [(row.status, row.tries) for row in rows] == [("delivered", 1), ("delivered", 1)]
    assert all(row.delivered_at is not None for row in rows)


async def test_the_outbox_delivers_again_once_the_operators_endpoint_comes_back(
    runtime: Runtime, port: int, notifier_for: Any
) -> None:
    made = await make_attempt(runtime)
    (note_id,) = await add_notifications(runtime, made.contact_id, made.campaign_id, 1)
    clock = Clock()
    notifier = notifier_for(notification_settings(port, backoff_seconds=60), clock)

    down = await notifier.deliver_due()  # nothing listens on the port yet
    (row,) = await notifications(runtime)
    assert (down.failed, row.status, row.tries) == (1, "pending", 1)
    assert row.last_error is not None and "Connect" in row.last_error
    assert row.next_try_at == clock.now + timedelta(seconds=60)

    endpoint = OperatorEndpoint()
    async with serving(endpoint, port):
        early = await notifier.deliver_due()  # back, but the backoff has not passed
        clock.advance(61)
        back = await notifier.deliver_due()

    assert (early.claimed, back.delivered) == (0, 1)
    assert endpoint.ids() == [note_id]
    (row,) = await notifications(runtime)
    assert (row.status, row.tries, row.last_error) == ("delivered", 2, None)


async def test_a_notification_goes_dead_after_its_last_try_and_a_redrive_delivers_it(
    runtime: Runtime, port: int, notifier_for: Any
) -> None:
    made = await make_attempt(runtime)
    (note_id,) = await add_notifications(runtime, made.contact_id, made.campaign_id, 1)
    clock = Clock()
    notifier = notifier_for(notification_settings(port, max_tries=2, backoff_seconds=5), clock)
    endpoint = OperatorEndpoint(status=500)

    async with serving(endpoint, port):
        await notifier.deliver_due()
        clock.advance(6)
        last = await notifier.deliver_due()
        (row,) = await notifications(runtime)
        assert (last.dead, row.status, row.tries) == (1, "dead", 2)
        assert row.last_error is not None and row.last_error.startswith("HTTP 500")
        clock.advance(10_000)
        assert (await notifier.deliver_due()).claimed == 0  # dead rows are never retried

        endpoint.status = 200
        async with runtime.sessions() as session, session.begin():
            assert await outbox.redrive(session, ids=[note_id], now=clock.now) == 1
        assert (await notifier.deliver_due()).delivered == 1

    assert endpoint.ids() == [note_id, note_id, note_id]
    (row,) = await notifications(runtime)
    assert (row.status, row.tries) == ("delivered", 1)


async def test_one_contacts_notifications_are_sent_in_the_order_they_were_written(
    runtime: Runtime, port: int, notifier_for: Any
) -> None:
    made = await make_attempt(runtime)
    ids = await add_notifications(runtime, made.contact_id, made.campaign_id, 6)
    endpoint = OperatorEndpoint()

    async with serving(endpoint, port):
        await notifier_for(notification_settings(port)).deliver_due()

    assert endpoint.ids() == ids


async def test_a_full_batch_leaves_the_rest_for_the_next_round(
    runtime: Runtime, port: int, notifier_for: Any
) -> None:
    made = await make_attempt(runtime)
    ids = await add_notifications(runtime, made.contact_id, made.campaign_id, 5)
    endpoint = OperatorEndpoint()
    notifier = notifier_for(notification_settings(port, batch_size=3))

    async with serving(endpoint, port):
        first = await notifier.deliver_due()
        second = await notifier.deliver_due()

    assert (first.delivered, second.delivered) == (3, 2)
    assert endpoint.ids() == ids


async def test_two_delivering_processes_never_send_the_same_notification_twice(
    database_url: str, redis_prefix: str, port: int
) -> None:
    settings = engine_settings(database_url, redis_prefix)
    first, second = await Runtime.open(settings), await Runtime.open(settings)
    notifiers: list[Notifier] = []
    try:
        contacts = [
            await make_attempt(
                first, call_id=f"call-{i}", session_id=f"sess-{i}", phone=f"+91987654{i:04d}"
            )
            for i in range(8)
        ]
        for made in contacts:
            await add_notifications(first, made.contact_id, made.campaign_id, 5)
        endpoint = OperatorEndpoint()
        config = notification_settings(port, batch_size=7)
        notifiers = [Notifier(r.sessions, config) for r in (first, second)]

        async def drain(notifier: Notifier) -> None:
            while (await notifier.deliver_due()).claimed:
                pass

        async with serving(endpoint, port):
            await asyncio.gather(*(drain(n) for n in notifiers))

        counts = Counter(endpoint.ids())
        assert len(counts) == 40
        assert set(counts.values()) == {1}
        rows = await notifications(first)
        assert {(row.status, row.tries) for row in rows} == {("delivered", 1)}
    finally:
        for notifier in notifiers:
            await notifier.aclose()
        await first.close()
        await second.close()
