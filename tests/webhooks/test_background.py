"""A running server applies accepted events off the request, from its own queue, and finds
whatever the queue lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import update

from campaign_engine.db.models import WebhookEvent, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app
from campaign_engine.webhooks.background import (
    BUSY_RATE,
    LEFTOVER_AFTER_SECONDS,
    RATE_WINDOW,
    InboxProcessor,
)
from campaign_engine.webhooks.inbox_writer import writer_for
from tests.harness import wait_until

from .conftest import deliver, event_body, inbox_rows, load_attempt, make_attempt


def app_with(processor: InboxProcessor) -> httpx.AsyncClient:
    app = create_app(processor.runtime)
    app.state.inbox_processor = processor
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://engine.test")


async def statuses(runtime: Runtime) -> list[str]:
    return [row.status for row in await inbox_rows(runtime)]


async def test_the_answer_does_not_wait_for_the_outcome_to_be_applied(runtime: Runtime) -> None:
    made = await make_attempt(runtime)
    processor = InboxProcessor(runtime)  # not started yet: nothing can apply the event
    async with app_with(processor) as client:
        response = await deliver(client, event_body())

    assert response.status_code == 200
    assert await statuses(runtime) == ["received"]
    assert (await load_attempt(runtime, made.attempt_id)).state == "started"

    processor.start()
    try:

        async def applied() -> bool:
            return await statuses(runtime) == ["applied"]

        await wait_until(applied, 10, "the queued event to be applied")
    finally:
        await processor.stop()
    assert (await load_attempt(runtime, made.attempt_id)).outcome == "completed"


async def test_events_queued_when_it_stops_stay_received_in_the_inbox(runtime: Runtime) -> None:
    await make_attempt(runtime)
    processor = InboxProcessor(runtime, workers=0)
    processor.start()
    async with app_with(processor) as client:
        await deliver(client, event_body())
    await processor.stop()

    assert await statuses(runtime) == ["received"]
    assert processor.queue.qsize() == 1


async def test_leftovers_are_received_events_older_than_a_moment_never_newer_ones(
    runtime: Runtime,
) -> None:
    await make_attempt(runtime)
    async with app_with(InboxProcessor(runtime, workers=0)) as client:
        old_id = (await deliver(client, event_body(session_id="old"))).json()["event_id"]
        await deliver(client, event_body(session_id="new", call_id="call-new"))
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == old_id)
            .values(received_at=utcnow() - timedelta(seconds=LEFTOVER_AFTER_SECONDS + 1))
        )

    assert await InboxProcessor(runtime).leftovers() == [old_id]


async def test_an_event_dropped_by_a_full_queue_is_still_applied_by_the_catch_up(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    processor = InboxProcessor(runtime, queue_limit=1)
    processor.queue.put_nowait(10**9)  # the queue is full: the next id is dropped
    async with app_with(processor) as client:
        event_id = (await deliver(client, event_body())).json()["event_id"]
    assert processor.dropped == 1
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(received_at=utcnow() - timedelta(seconds=LEFTOVER_AFTER_SECONDS + 1))
        )

    processor.start()
    try:

        async def applied() -> bool:
            return await statuses(runtime) == ["applied"]

        await wait_until(applied, 15, "the dropped event to be caught up")
    finally:
        await processor.stop()
    assert (await load_attempt(runtime, made.attempt_id)).state == "ended"


async def test_it_counts_as_busy_only_while_deliveries_arrive_faster_than_the_busy_rate(
    runtime: Runtime,
) -> None:
    processor = InboxProcessor(runtime, workers=0)
    burst = int(BUSY_RATE * RATE_WINDOW)
    for event_id in range(burst - 1):
        processor.submit(event_id)
    assert not processor.busy()  # a steady flow of outcomes is applied at full speed

    processor.submit(burst)
    assert processor.busy()


class AlwaysBusy(InboxProcessor):
    """As if deliveries kept arriving faster than the busy rate."""

    def busy(self) -> bool:
        return True


async def test_while_busy_whole_batches_are_still_applied_not_a_trickle(
    runtime: Runtime,
) -> None:
    """300 events no attempt matches (each is tried once: 'unmatched') are all tried within
    a few seconds although the processor never stops being busy."""
    writer = writer_for(runtime.engine)
    stored = await asyncio.gather(
        *(
            writer.store(
                session_id=f"sess-{index}",
                call_id=f"call-{index}",
                event_type="session.completed",
                raw_body=event_body(session_id=f"sess-{index}", call_id=f"call-{index}"),
                headers={},
            )
            for index in range(300)
        )
    )
    processor = AlwaysBusy(runtime)
    for one in stored:
        assert one.event_id is not None
        processor.submit(one.event_id)
    processor.start()
    try:

        async def all_tried() -> bool:
            return set(await statuses(runtime)) == {"unmatched"}

        await wait_until(all_tried, 10, "every event to be tried while busy")
    finally:
        await processor.stop()
