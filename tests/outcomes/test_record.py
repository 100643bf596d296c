"""Outcomes recorded in batches: the same forward-only result as one at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.outcomes.record import (
    CallReport,
    contact_rounds,
    expire_attempts,
    record_outcome,
    record_outcomes,
)
from campaign_engine.runtime import Runtime
from tests.webhooks.conftest import load_attempt, load_contact, make_attempt

POLICY = RetryPolicy(
    max_attempts=3,
    rules={Outcome.NO_ANSWER: RetryRule(max_retries=2, delay_seconds=600, jitter=0)},
)


def test_rounds_never_hold_two_attempts_of_one_contact_and_keep_the_order() -> None:
    contact_of = {1: 10, 2: 20, 3: 10, 4: 30, 5: 10}

    assert contact_rounds(contact_of, [1, 2, 3, 4, 5]) == [[1, 2, 4], [3], [5]]
    assert contact_rounds(contact_of, []) == []


async def test_a_batch_records_each_attempt_as_one_at_a_time_would(runtime: Runtime) -> None:
    answered = await make_attempt(runtime, policy=POLICY)
    missed = await make_attempt(
        runtime, call_id="call-2", session_id="sess-2", phone="+919876543201", policy=POLICY
    )
    final = await make_attempt(
        runtime,
        attempt_state="ended",
        contact_state="exhausted",
        call_id="call-3",
        session_id="sess-3",
        phone="+919876543202",
        outcome="busy",
    )
    reports = [
        (answered.attempt_id, CallReport(call_status="completed", disposition="completed")),
        (missed.attempt_id, CallReport(call_status="no_answer", error="nobody picked up")),
        (final.attempt_id, CallReport(call_status="completed", disposition="completed")),
    ]
    before = utcnow()

    async with runtime.sessions() as session, session.begin():
        recorded = await record_outcomes(session, reports)

    assert [(one.attempt_id, one.applied) for one in recorded] == [
        (answered.attempt_id, True),
        (missed.attempt_id, True),
        (final.attempt_id, False),
    ]
    assert recorded[0].outcome is Outcome.COMPLETED and recorded[1].outcome is Outcome.NO_ANSWER
    assert recorded[1].lease == f"{missed.contact_id}:1"
    assert (await load_contact(runtime, answered.contact_id)).state == "completed"
    retrying = await load_contact(runtime, missed.contact_id)
    assert (retrying.state, retrying.last_error) == ("retrying", "nobody picked up")
    assert retrying.next_attempt_at is not None
    assert retrying.next_attempt_at >= before + timedelta(seconds=600)
    untouched = await load_attempt(runtime, final.attempt_id)
    assert (untouched.outcome, untouched.call_status) == ("busy", None)
    assert (await load_contact(runtime, final.contact_id)).state == "exhausted"


async def test_two_open_attempts_of_one_contact_in_a_batch_are_decided_one_after_the_other(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime, policy=POLICY)
    async with runtime.sessions() as session, session.begin():
        second = CallAttempt(
            contact_id=made.contact_id,
            campaign_id=made.campaign_id,
            attempt_number=2,
            state="started",
            provider="twilio",
            # Another number: one number is in one open attempt at a time (migration 0006).
            to_number="+919876543211",
            call_id="call-second",
            session_id="sess-second",
            deadline_at=utcnow() + timedelta(hours=1),
        )
        session.add(second)
        await session.flush()
        second_id = second.id

    async with runtime.sessions() as session, session.begin():
        recorded = await record_outcomes(
            session,
            [
                (second_id, CallReport(call_status="completed", disposition="completed")),
                (made.attempt_id, CallReport(call_status="no_answer")),
            ],
        )

    assert [one.applied for one in recorded] == [True, True]
    # The first attempt was decided first (a retry); the second found the contact retrying,
    # which is no longer in a call, so it stays as the first decision left it.
    contact = await load_contact(runtime, made.contact_id)
    assert (contact.state, contact.last_outcome) == ("retrying", "no_answer")


async def test_a_missing_attempt_or_one_given_twice_is_refused_with_its_id(
    runtime: Runtime,
) -> None:
    made = await make_attempt(runtime)
    report = CallReport(call_status="completed")

    async with runtime.sessions() as session:
        with pytest.raises(LookupError, match="attempt 999999 does not exist"):
            await record_outcome(session, 999_999, report)
        with pytest.raises(ValueError, match="once per batch"):
            await record_outcomes(session, [(made.attempt_id, report), (made.attempt_id, report)])


async def test_expiring_a_batch_closes_each_open_attempt_with_its_reason(runtime: Runtime) -> None:
    first = await make_attempt(runtime)
    second = await make_attempt(
        runtime, call_id="call-2", session_id="sess-2", phone="+919876543201"
    )

    async with runtime.sessions() as session, session.begin():
        recorded = await expire_attempts(
            session, [(first.attempt_id, "late one"), (second.attempt_id, "late two")]
        )

    assert [one.applied for one in recorded] == [True, True]
    for made, reason in ((first, "late one"), (second, "late two")):
        attempt = await load_attempt(runtime, made.attempt_id)
        assert (attempt.state, attempt.outcome, attempt.error) == ("expired", "unknown", reason)
        assert (await load_contact(runtime, made.contact_id)).state == "exhausted"
