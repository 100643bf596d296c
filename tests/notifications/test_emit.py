"""Outcome notifications are written with the outcome, once, and only when turned on."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from campaign_engine.campaigns.outcomes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.outcome import expire_attempt
from campaign_engine.notifications import emit
from campaign_engine.runtime import Runtime
from tests.webhooks.conftest import make_attempt

from .support import notifications, webhook

RETRY_NO_ANSWER = RetryPolicy(
    max_attempts=3, rules={Outcome.NO_ANSWER: RetryRule(max_retries=2, delay_seconds=600)}
)


async def test_nothing_is_written_while_notifications_are_off(runtime: Runtime) -> None:
    await make_attempt(runtime)
    await webhook(runtime)

    assert await notifications(runtime) == []


async def test_a_final_outcome_writes_the_attempts_notification_then_the_contacts_final_one(
    runtime: Runtime,
) -> None:
    emit.enable(runtime.sessions)
    made = await make_attempt(runtime)
    await webhook(runtime, status="completed", disposition="completed")

    attempt_row, final_row = await notifications(runtime)
    assert (attempt_row.kind, final_row.kind) == ("attempt", "final")
    for row in (attempt_row, final_row):
        assert (row.campaign_id, row.contact_id, row.attempt_id) == (
            made.campaign_id,
            made.contact_id,
            made.attempt_id,
        )
        assert (row.status, row.tries) == ("pending", 0)
    assert attempt_row.payload["final"] is True
    assert attempt_row.payload["attempt"]["outcome"] == "completed"
    assert attempt_row.payload["attempt"]["duration_seconds"] == 42.5
    assert (final_row.payload["state"], final_row.payload["attempt_number"]) == ("completed", 1)


async def test_an_outcome_that_will_be_retried_writes_only_the_attempts_notification(
    runtime: Runtime,
) -> None:
    emit.enable(runtime.sessions)
    await make_attempt(runtime, policy=RETRY_NO_ANSWER)
    await webhook(runtime, status="no_answer", disposition=None)

    (row,) = await notifications(runtime)
    assert row.kind == "attempt"
    assert row.payload["final"] is False
    assert row.payload["contact_state"] == "retrying"
    assert row.payload["next_attempt_at"] is not None


async def test_duplicate_and_replayed_webhooks_write_nothing_more(runtime: Runtime) -> None:
    emit.enable(runtime.sessions)
    await make_attempt(runtime)
    await webhook(runtime, session_id="sess-1")
    await webhook(runtime, session_id="sess-1")  # duplicate delivery
    await webhook(runtime, session_id="sess-replay")  # another event for the same call

    assert [row.kind for row in await notifications(runtime)] == ["attempt", "final"]


async def test_an_expired_attempt_is_notified_with_its_reason(runtime: Runtime) -> None:
    emit.enable(runtime.sessions)
    made = await make_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == made.attempt_id)
            .values(deadline_at=utcnow() - timedelta(seconds=1))
        )
        await expire_attempt(session, made.attempt_id, "no outcome by the deadline")

    attempt_row, final_row = await notifications(runtime)
    assert attempt_row.payload["attempt"]["state"] == "expired"
    assert attempt_row.payload["attempt"]["error"] == "no outcome by the deadline"
    assert final_row.payload["state"] == "exhausted"


async def test_a_rolled_back_outcome_leaves_no_notification(runtime: Runtime) -> None:
    emit.enable(runtime.sessions)
    made = await make_attempt(runtime)

    class Abort(Exception):
        pass

    try:
        async with runtime.sessions() as session, session.begin():
            await expire_attempt(session, made.attempt_id, "about to be rolled back")
            raise Abort
    except Abort:
        pass

    assert await notifications(runtime) == []
