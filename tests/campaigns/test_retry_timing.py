"""A retry lands at max(now + delay, the next moment the contact may be called).

Placed through the batch the outcome path runs (:func:`outcomes.retry.decide_next`), with its
random source seeded so each test knows the decision before placing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from campaign_engine.campaigns import service
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import Decision, RetryPolicy, decide
from campaign_engine.campaigns.retry_timing import NO_TIME_LEFT
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.outcomes import retry
from campaign_engine.outcomes.record import CallReport, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.campaigns.support import (
    KOLKATA,
    WEEKDAYS_10_TO_13,
    add_attempt,
    campaign_with,
    contacts_by_number,
    set_contact,
    utc,
)

NUMBER = "+919800000001"
DEFAULTS = RetryPolicy()
CLASSES = [
    Outcome.NO_ANSWER,
    Outcome.BUSY,
    Outcome.VOICEMAIL,
    Outcome.FAILED,
    Outcome.USER_HANGUP_NO_SPEECH,
]


@pytest.fixture(autouse=True)
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outcome path decides with this seed, as ``decide(..., random.Random(3))`` does."""
    monkeypatch.setattr(retry, "_rng", random.Random(3))


async def scheduled_contact(runtime: Runtime) -> tuple[str, int]:
    campaign_id = await campaign_with(
        runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13, retry_policy=DEFAULTS
    )
    return campaign_id, await set_contact(runtime, campaign_id, NUMBER)


async def place_after(
    runtime: Runtime, campaign_id: str, contact_id: int, outcome: Outcome, now: datetime
) -> tuple[Decision, datetime | None]:
    """End the contact's call with ``outcome`` at ``now`` and place what follows in bulk."""
    await set_contact(runtime, campaign_id, NUMBER, state="calling", attempts_count=1)
    attempt_id = await add_attempt(
        runtime, campaign_id, contact_id, NUMBER, now, outcome=outcome.value
    )
    async with runtime.sessions() as session, session.begin():
        attempt = await session.get(CallAttempt, attempt_id)
        assert attempt is not None
        decided = await retry.decide_next(session, [attempt], now)
    async with runtime.sessions() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None
    return decided[attempt_id], contact.next_attempt_at


@pytest.mark.parametrize("outcome", CLASSES)
async def test_each_retry_class_lands_in_the_next_allowed_window(
    runtime: Runtime, outcome: Outcome
) -> None:
    campaign_id, contact_id = await scheduled_contact(runtime)
    friday_1258_ist = utc(2030, 6, 7, 7, 28)  # every class's delay ends after 13:00 IST
    decision = decide(DEFAULTS, [outcome], random.Random(3))
    assert decision.retry

    placed, moment = await place_after(runtime, campaign_id, contact_id, outcome, friday_1258_ist)

    assert placed == decision
    assert moment == utc(2030, 6, 10, 4, 30)  # Monday 10:00 IST, not Friday evening


@pytest.mark.parametrize("outcome", CLASSES)
async def test_a_retry_inside_the_window_keeps_its_delay(
    runtime: Runtime, outcome: Outcome
) -> None:
    campaign_id, contact_id = await scheduled_contact(runtime)
    monday_0800_ist = utc(2030, 6, 3, 2, 30)
    wide = {"windows": ["08:00-21:00"]}
    async with runtime.sessions() as session, session.begin():
        await service.set_schedule(session, campaign_id, parse_schedule(wide), now=monday_0800_ist)
    decision = decide(DEFAULTS, [outcome], random.Random(3))

    _, moment = await place_after(runtime, campaign_id, contact_id, outcome, monday_0800_ist)

    assert moment == monday_0800_ist + timedelta(seconds=decision.delay_seconds or 0)


async def test_a_final_decision_is_left_alone(runtime: Runtime) -> None:
    campaign_id, contact_id = await scheduled_contact(runtime)
    completed = decide(DEFAULTS, [Outcome.COMPLETED], random.Random(3))
    placed = await place_after(runtime, campaign_id, contact_id, Outcome.COMPLETED, utcnow())
    assert placed == (completed, None)


async def test_no_window_left_before_the_end_exhausts_instead_of_retrying(
    runtime: Runtime,
) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "end": "2030-06-07"}
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], schedule, retry_policy=DEFAULTS)
    contact_id = await set_contact(runtime, campaign_id, NUMBER)
    assert decide(DEFAULTS, [Outcome.BUSY], random.Random(3)).retry

    placed, moment = await place_after(
        runtime, campaign_id, contact_id, Outcome.BUSY, utc(2030, 6, 7, 7, 28)
    )

    assert (placed.final_state, placed.reason, moment) == (
        ContactState.EXHAUSTED,
        NO_TIME_LEFT,
        None,
    )


async def test_a_call_that_ends_after_its_campaign_was_canceled_is_not_retried(
    runtime: Runtime,
) -> None:
    campaign_id, contact_id = await scheduled_contact(runtime)
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.cancel(
            session, campaign_id, keys=runtime.keys, actor="tester", reason="wrong list"
        )
    assert decide(DEFAULTS, [Outcome.NO_ANSWER], random.Random(3)).retry

    placed, moment = await place_after(
        runtime, campaign_id, contact_id, Outcome.NO_ANSWER, utcnow()
    )

    assert (placed.final_state, placed.reason, moment) == (
        ContactState.CANCELED,
        "campaign canceled: wrong list",
        None,
    )


async def test_recording_a_busy_call_schedules_the_retry_in_the_next_window(
    runtime: Runtime,
) -> None:
    """The whole outcome path: the schedule starts in 2100, so the retry waits for it."""
    schedule = {**WEEKDAYS_10_TO_13, "start": "2100-01-04T00:00:00Z"}
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], schedule)
    contact_id = await set_contact(runtime, campaign_id, NUMBER, state="calling", attempts_count=1)
    attempt_id = await add_attempt(
        runtime, campaign_id, contact_id, NUMBER, utc(2030, 6, 3, 5), state="started", outcome=None
    )

    async with runtime.sessions() as session, session.begin():
        recorded = await record_outcome(session, attempt_id, CallReport(call_status="busy"))

    assert recorded.decision is not None and recorded.decision.retry
    contact = (await contacts_by_number(runtime, campaign_id))[NUMBER]
    assert (contact.state, contact.last_outcome) == ("retrying", "busy")
    assert contact.next_attempt_at == utc(2100, 1, 4, 4, 30)  # Monday 10:00 IST
