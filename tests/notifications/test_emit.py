"""Outcome notifications are written with the outcome, once, and only when turned on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.notifications import emit
from campaign_engine.ops import actions
from campaign_engine.outcomes.record import expire_attempt
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


async def waiting_contact(runtime: Runtime, campaign_id: str, phone: str) -> int:
    """A second contact of the campaign, waiting for its retry after one no-answer call."""
    async with runtime.sessions() as session, session.begin():
        contact = Contact(
            campaign_id=campaign_id,
            phone_e164=phone,
            region="IN",
            timezones=["Asia/Calcutta"],
            variables={"name": "Ravi"},
            state="retrying",
            attempts_count=1,
            next_attempt_at=utcnow() + timedelta(hours=1),
            last_outcome="no_answer",
        )
        session.add(contact)
        await session.flush()
        session.add(
            CallAttempt(
                contact_id=contact.id,
                campaign_id=campaign_id,
                attempt_number=1,
                state="ended",
                provider="twilio",
                to_number=phone,
                outcome="no_answer",
                deadline_at=utcnow(),
            )
        )
        await session.flush()
        return contact.id


async def test_canceling_a_campaign_writes_the_final_notification_of_each_contact_it_closes(
    runtime: Runtime,
) -> None:
    emit.enable(runtime.sessions)
    in_call = await make_attempt(runtime)
    waiting = await waiting_contact(runtime, in_call.campaign_id, "+919876500001")

    async with runtime.sessions() as session, session.begin():
        assert (
            await campaign_moves.cancel(
                session, in_call.campaign_id, keys=runtime.keys, actor="tester"
            )
        ).contacts_closed == 1

    (row,) = await notifications(runtime)
    assert (row.kind, row.contact_id) == ("final", waiting)
    assert row.attempt_id is not None  # its last attempt
    payload = row.payload
    assert (payload["final"], payload["closed_without_call"]) == (True, True)
    assert (payload["state"], payload["attempts"], payload["attempt_number"]) == ("canceled", 1, 1)
    assert payload["reason"] == "campaign canceled"
    assert payload["last_attempt"]["outcome"] == "no_answer"

    # The contact that was in its call finishes and gets its own final, once.
    await webhook(runtime, status="no_answer", disposition=None)
    kinds = [(row.contact_id, row.kind) for row in await notifications(runtime)]
    assert kinds == [
        (waiting, "final"),
        (in_call.contact_id, "attempt"),
        (in_call.contact_id, "final"),
    ]


@pytest.mark.parametrize(("action", "state"), [("skip", "canceled"), ("suppress", "suppressed")])
async def test_an_operator_closing_a_waiting_contact_writes_its_final_notification(
    runtime: Runtime, action: str, state: str
) -> None:
    emit.enable(runtime.sessions)
    made = await make_attempt(runtime)
    never_called = await waiting_contact(runtime, made.campaign_id, "+919876500002")
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.id == never_called).values(state="pending")
        )
        await session.execute(delete(CallAttempt).where(CallAttempt.contact_id == never_called))

    async with runtime.sessions() as session, session.begin():
        await getattr(actions, action)(session, never_called, actor="asha")

    (row,) = await notifications(runtime)
    assert (row.kind, row.contact_id, row.attempt_id) == ("final", never_called, None)
    assert row.payload["state"] == state
    assert (row.payload["attempt_number"], row.payload["last_attempt"]) == (0, None)
    assert row.payload["reason"] in (actions.SKIPPED, actions.SUPPRESSED)


async def test_closing_writes_nothing_for_a_contact_not_final_or_while_notifications_are_off(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    async with runtime.sessions() as session, session.begin():
        assert await emit.emit_closed(session, [made.contact_id]) == 0  # off
    emit.enable(runtime.sessions)
    async with runtime.sessions() as session, session.begin():
        assert await emit.emit_closed(session, [made.contact_id]) == 0  # still in its call

    assert await notifications(runtime) == []
