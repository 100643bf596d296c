"""The outbox rows: claimed once, tries recorded only by their claimer, re-driven by hand."""

from __future__ import annotations

from datetime import timedelta

from campaign_engine.db.models import utcnow
from campaign_engine.notifications import outbox
from campaign_engine.notifications.backoff import RetrySchedule
from campaign_engine.runtime import Runtime
from tests.webhooks.conftest import make_attempt

from .support import add_notifications, notifications

SCHEDULE = RetrySchedule(max_tries=2, backoff_seconds=30, max_backoff_seconds=300)


async def claim(
    runtime: Runtime, *, limit: int = 10, offset_seconds: float = 0
) -> list[outbox.Claimed]:
    async with runtime.sessions() as session, session.begin():
        return await outbox.claim_due(
            session,
            now=utcnow() + timedelta(seconds=offset_seconds),
            limit=limit,
            lease_seconds=60,
        )


async def test_claim_takes_due_rows_oldest_first_up_to_the_limit_and_counts_the_try(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    ids = await add_notifications(runtime, made.contact_id, made.campaign_id, 3)

    claimed = await claim(runtime, limit=2)

    assert [item.id for item in claimed] == ids[:2]
    assert [item.tries for item in claimed] == [1, 1]
    assert [item.payload for item in claimed] == [{"n": 0}, {"n": 1}]


async def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    (only,) = await add_notifications(runtime, made.contact_id, made.campaign_id, 1)

    assert [item.id for item in await claim(runtime)] == [only]
    assert await claim(runtime) == []
    (again,) = await claim(runtime, offset_seconds=61)
    assert (again.id, again.tries) == (only, 2)


async def test_a_try_is_recorded_only_by_the_sender_holding_the_latest_claim(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    await add_notifications(runtime, made.contact_id, made.campaign_id, 1)
    (stale,) = await claim(runtime)
    (current,) = await claim(runtime, offset_seconds=61)  # the first sender's lease ran out

    async with runtime.sessions() as session, session.begin():
        assert not await outbox.mark_delivered(session, stale, now=utcnow())
        assert (
            await outbox.mark_failed(session, stale, error="late", now=utcnow(), schedule=SCHEDULE)
            is None
        )
        assert await outbox.mark_delivered(session, current, now=utcnow())

    (row,) = await notifications(runtime)
    assert (row.status, row.tries, row.last_error) == ("delivered", 2, None)


async def test_a_failed_try_backs_off_and_the_last_one_makes_the_row_dead(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    await add_notifications(runtime, made.contact_id, made.campaign_id, 1)
    now = utcnow()

    (first,) = await claim(runtime)
    async with runtime.sessions() as session, session.begin():
        status = await outbox.mark_failed(
            session, first, error="HTTP 503", now=now, schedule=SCHEDULE
        )
    (row,) = await notifications(runtime)
    assert (status, row.status, row.last_error) == ("pending", "pending", "HTTP 503")
    assert row.next_try_at == now + timedelta(seconds=30)

    (second,) = await claim(runtime, offset_seconds=31)
    async with runtime.sessions() as session, session.begin():
        status = await outbox.mark_failed(
            session, second, error="HTTP 500", now=now, schedule=SCHEDULE
        )
    (row,) = await notifications(runtime)
    assert (status, row.status, row.tries, row.last_error) == ("dead", "dead", 2, "HTTP 500")
    assert await claim(runtime, offset_seconds=10_000) == []


async def test_redrive_puts_dead_rows_back_with_a_fresh_budget_and_leaves_others_alone(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    dead = await add_notifications(
        runtime, made.contact_id, made.campaign_id, 2, status="dead", tries=8
    )
    (delivered,) = await add_notifications(
        runtime, made.contact_id, made.campaign_id, 1, status="delivered", tries=1
    )

    async with runtime.sessions() as session, session.begin():
        assert await outbox.redrive(session, ids=[dead[0], delivered], now=utcnow()) == 1
        assert await outbox.count_by_status(session) == {"pending": 1, "delivered": 1, "dead": 1}
        assert await outbox.redrive(session, now=utcnow()) == 1
    rows = {row.id: row for row in await notifications(runtime)}
    assert [(rows[i].status, rows[i].tries) for i in dead] == [("pending", 0), ("pending", 0)]
    assert rows[delivered].status == "delivered"


async def test_redrive_of_one_campaign_leaves_other_campaigns_dead_rows(runtime: Runtime) -> None:
    first = await make_attempt(runtime, call_id="call-a", session_id="sess-a")
    second = await make_attempt(
        runtime, call_id="call-b", session_id="sess-b", phone="+919876543211"
    )
    await add_notifications(runtime, first.contact_id, first.campaign_id, 1, status="dead")
    await add_notifications(runtime, second.contact_id, second.campaign_id, 1, status="dead")

    async with runtime.sessions() as session, session.begin():
        assert await outbox.redrive(session, campaign_id=first.campaign_id, now=utcnow()) == 1
    statuses = {row.campaign_id: row.status for row in await notifications(runtime)}
    assert statuses == {first.campaign_id: "pending", second.campaign_id: "dead"}
