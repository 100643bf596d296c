"""A call polling saw end frees its slots at once; its outcome waits for the webhook."""

from __future__ import annotations

from datetime import timedelta

from campaign_engine.db.models import utcnow
from campaign_engine.dialer.attempts import mark_started
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.outcomes.call_ended import CallEnded, mark_calls_ended
from campaign_engine.outcomes.record import POLL, CallReport, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.states import AttemptState, ContactState
from tests.dialer.support import NUMBERS, attempts_of, claimed_attempt, contacts_of

WAIT = timedelta(seconds=30)


async def started_call(runtime: Runtime, number: str = NUMBERS[0]) -> tuple[str, int]:
    """A running campaign whose one contact is in a started call, its slots held."""
    campaign_id, attempt_id = await claimed_attempt(runtime, number)
    async with runtime.sessions() as session, session.begin():
        await mark_started(session, attempt_id, call_id=f"call-{number}", session_id=None)
    return campaign_id, attempt_id


async def test_an_ended_call_frees_its_slots_while_the_contact_waits_for_the_outcome(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await started_call(runtime)
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        released = await mark_calls_ended(
            session, [CallEnded(attempt_id, "completed")], now=now, wait=WAIT
        )
    await runtime.limiter.release_many(released)

    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.state, attempt.call_status, attempt.outcome) == (
        AttemptState.PROCESSING,
        "completed",
        None,  # how it ended is not known yet
    )
    assert attempt.outcome_due_at is not None
    assert abs((attempt.outcome_due_at - (now + WAIT)).total_seconds()) < 1
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.CALLING  # not retried, not closed: waiting
    for name in slot_names_for("mcube", campaign_id):
        assert await runtime.limiter.in_use(name) == 0


async def test_a_call_already_concluded_is_not_moved_back_nor_its_slots_given_twice(
    runtime: Runtime,
) -> None:
    campaign_id, attempt_id = await started_call(runtime)
    async with runtime.sessions() as session, session.begin():
        await record_outcome(session, attempt_id, CallReport("completed", disposition="voicemail"))
        released = await mark_calls_ended(
            session, [CallEnded(attempt_id, "completed")], now=utcnow(), wait=WAIT
        )

    assert released == []
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.state, attempt.outcome) == (AttemptState.ENDED, "voicemail")


async def test_the_webhook_after_processing_decides_from_the_full_outcome(
    runtime: Runtime,
) -> None:
    """Polling saw a completed call; the webhook says voicemail: a voicemail it is, and the
    contact is retried — never final as completed because a poll came first."""
    campaign_id, attempt_id = await started_call(runtime)
    async with runtime.sessions() as session, session.begin():
        await mark_calls_ended(
            session, [CallEnded(attempt_id, "completed")], now=utcnow(), wait=WAIT
        )
    async with runtime.sessions() as session, session.begin():
        recorded = await record_outcome(
            session, attempt_id, CallReport("completed", disposition="voicemail")
        )

    assert recorded.applied
    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.state, attempt.outcome, attempt.outcome_source) == (
        AttemptState.ENDED,
        "voicemail",
        "webhook",
    )
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.RETRYING


async def test_an_outcome_decided_without_the_webhook_says_so(runtime: Runtime) -> None:
    campaign_id, attempt_id = await started_call(runtime)
    async with runtime.sessions() as session, session.begin():
        await mark_calls_ended(
            session, [CallEnded(attempt_id, "completed")], now=utcnow(), wait=WAIT
        )
        await record_outcome(session, attempt_id, CallReport("completed", source=POLL))

    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.outcome, attempt.outcome_source) == ("completed", "poll")


async def test_an_outcome_no_webhook_can_refine_is_due_at_once(runtime: Runtime) -> None:
    """No answer, busy: the disposition cannot change the class, so the retry need not wait
    for post-call processing."""
    campaign_id, attempt_id = await started_call(runtime, NUMBERS[5])
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        await mark_calls_ended(session, [CallEnded(attempt_id, "no_answer")], now=now, wait=WAIT)

    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.outcome_due_at is not None
    assert abs((attempt.outcome_due_at - now).total_seconds()) < 1
