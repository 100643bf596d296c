"""A webhook that comes after a poll decided the outcome enriches it, and decides again
while the contact's next step has not run."""

from __future__ import annotations

from sqlalchemy import update

from campaign_engine.db.models import Contact, utcnow
from campaign_engine.outcomes.late_webhook import enrich_outcomes
from campaign_engine.outcomes.record import POLL, CallReport, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.dialer.support import NUMBERS, attempts_of, contacts_of
from tests.outcomes.test_call_ended import started_call

WEBHOOK = CallReport(
    "completed",
    disposition="voicemail",
    answered_by="machine",
    transcript=[{"role": "bot", "content": "Hello"}],
    recording_url="https://recordings.example/s.mp3",
)


async def decided_by_poll(runtime: Runtime, status: str = "no_answer") -> tuple[str, int]:
    campaign_id, attempt_id = await started_call(runtime, NUMBERS[3])
    async with runtime.sessions() as session, session.begin():
        await record_outcome(session, attempt_id, CallReport(status, source=POLL))
    return campaign_id, attempt_id


async def test_a_late_webhook_enriches_an_outcome_a_poll_decided(runtime: Runtime) -> None:
    campaign_id, attempt_id = await decided_by_poll(runtime, "completed")
    async with runtime.sessions() as session, session.begin():
        assert await enrich_outcomes(session, [(attempt_id, WEBHOOK)], utcnow()) == [attempt_id]

    (attempt,) = await attempts_of(runtime, campaign_id)
    assert (attempt.disposition, attempt.answered_by, attempt.outcome) == (
        "voicemail",
        "machine",
        "voicemail",
    )
    assert attempt.transcript == [{"role": "bot", "content": "Hello"}]
    assert attempt.recording_url == "https://recordings.example/s.mp3"
    assert attempt.outcome_source == "poll+webhook"
    # The contact was closed as completed from the poll: its next step has run, it stays.
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.COMPLETED


async def test_a_late_webhook_decides_again_while_the_retry_has_not_run(runtime: Runtime) -> None:
    """Polled as no_answer (retry in a while); the webhook says the callee answered and the
    call completed: the retry waiting for it is called off."""
    campaign_id, attempt_id = await decided_by_poll(runtime, "no_answer")
    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.RETRYING
    answered = CallReport("completed", disposition="completed", answered_by="human")
    async with runtime.sessions() as session, session.begin():
        assert await enrich_outcomes(session, [(attempt_id, answered)], utcnow()) == [attempt_id]

    (contact,) = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.last_outcome) == (ContactState.COMPLETED, "completed")


async def test_a_late_webhook_leaves_a_contact_already_dialed_again(runtime: Runtime) -> None:
    campaign_id, attempt_id = await decided_by_poll(runtime, "no_answer")
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id)
            .values(state=ContactState.DIALING.value, attempts_count=2)
        )
        await enrich_outcomes(session, [(attempt_id, WEBHOOK)], utcnow())

    (contact,) = await contacts_of(runtime, campaign_id)
    assert contact.state == ContactState.DIALING


async def test_an_outcome_the_webhook_gave_is_not_enriched_again(runtime: Runtime) -> None:
    campaign_id, attempt_id = await started_call(runtime, NUMBERS[4])
    async with runtime.sessions() as session, session.begin():
        await record_outcome(session, attempt_id, CallReport("busy"))
        assert await enrich_outcomes(session, [(attempt_id, WEBHOOK)], utcnow()) == []

    (attempt,) = await attempts_of(runtime, campaign_id)
    assert attempt.outcome == "busy"
