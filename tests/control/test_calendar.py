"""A campaign's start and end dates: scheduled until its start, completed at its end."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from campaign_engine.campaigns import service
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.control import campaign_moves
from campaign_engine.control.calendar import END_REACHED, START_REACHED, advance_calendar
from campaign_engine.db.models import ContactSource
from campaign_engine.runtime import Runtime
from tests.campaigns.support import (
    KOLKATA,
    MONDAY,
    WEEKDAYS_10_TO_13,
    campaign_with,
    contacts_by_number,
    set_contact,
    utc,
)
from tests.dialer.support import campaign_of, events_of

NUMBERS = [f"+91980000000{i}" for i in range(4)]
STARTS_WEDNESDAY = {**WEEKDAYS_10_TO_13, "start": "2030-06-05T00:00:00+05:30"}


async def advance(runtime: Runtime, now: datetime) -> list[tuple[str, str]]:
    async with runtime.sessions() as session, session.begin():
        return await advance_calendar(session, now)


async def test_a_campaign_started_before_its_start_is_scheduled_until_the_start(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], STARTS_WEDNESDAY)

    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == (
        "scheduled",
        "starts at 2030-06-04T18:30:00+00:00",
    )
    assert campaign.started_at is None
    # Its contacts wait for the first window on or after the start.
    contact = (await contacts_by_number(runtime, campaign_id))[NUMBERS[0]]
    assert contact.next_attempt_at == utc(2030, 6, 5, 4, 30)

    assert await advance(runtime, utc(2030, 6, 4, 18)) == []
    assert await advance(runtime, utc(2030, 6, 4, 18, 30)) == [(campaign_id, "running")]

    campaign = await campaign_of(runtime, campaign_id)
    assert campaign.state == "running"
    last = (await events_of(runtime, campaign_id))[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        "scheduled",
        "running",
        "scheduler",
        START_REACHED,
    )


async def test_past_its_end_a_running_campaign_completes_and_cancels_what_was_not_called(
    runtime: Runtime,
) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "end": "2030-06-07T13:00:00+05:30"}
    campaign_id = await campaign_with(runtime, [(number, KOLKATA) for number in NUMBERS], schedule)
    await set_contact(runtime, campaign_id, NUMBERS[0], state="completed")
    await set_contact(runtime, campaign_id, NUMBERS[1], state="calling")
    await set_contact(runtime, campaign_id, NUMBERS[2], state="retrying", attempts_count=1)

    assert await advance(runtime, utc(2030, 6, 7, 7, 29)) == []
    assert await advance(runtime, utc(2030, 6, 7, 7, 30)) == [(campaign_id, "completed")]

    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("completed", END_REACHED)
    assert campaign.finished_at is not None
    last = (await events_of(runtime, campaign_id))[-1]
    assert (last.actor, last.reason) == ("scheduler", END_REACHED)
    contacts = await contacts_by_number(runtime, campaign_id)
    assert [(contacts[n].state, contacts[n].last_error) for n in NUMBERS] == [
        ("completed", None),
        ("calling", None),  # ringing now: finishes and is recorded, never retried
        ("canceled", END_REACHED),
        ("canceled", END_REACHED),
    ]


async def test_a_paused_campaign_past_its_end_waits_and_completes_once_resumed(
    runtime: Runtime,
) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "end": "2030-06-04"}
    campaign_id = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], schedule)
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="tester")
    after_the_end = utc(2030, 6, 6)

    assert await advance(runtime, after_the_end) == []
    assert (await campaign_of(runtime, campaign_id)).state == "paused"

    async with runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="tester")
    assert await advance(runtime, after_the_end) == [(campaign_id, "completed")]


async def test_a_campaign_paused_while_scheduled_resumes_as_scheduled(runtime: Runtime) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "start": "2100-01-01"}
    campaign_id = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], schedule)
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(
            session, campaign_id, keys=runtime.keys, actor="tester", reason="not yet"
        )
        assert (
            await campaign_moves.resume(session, campaign_id, actor="tester")
        ).state == "scheduled"
    moves = [(e.from_state, e.to_state) for e in await events_of(runtime, campaign_id)]
    assert moves == [("draft", "scheduled"), ("scheduled", "paused"), ("paused", "scheduled")]


async def test_a_campaign_whose_schedule_already_ended_does_not_start(runtime: Runtime) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "end": "2030-06-01"}
    campaign_id = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], schedule, start=False)
    with pytest.raises(CampaignError, match="schedule ended at 2030-06-02T12:00:00"):
        async with runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign_id, None, now=MONDAY)
    assert (await campaign_of(runtime, campaign_id)).state == "draft"


async def test_a_campaign_without_dates_is_never_moved_by_the_calendar(runtime: Runtime) -> None:
    await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], WEEKDAYS_10_TO_13)
    await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], None)
    assert await advance(runtime, MONDAY + timedelta(days=3650)) == []


async def test_past_its_end_an_ongoing_campaign_completes_and_cancels_what_was_parked(
    runtime: Runtime,
) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "end": "2030-06-07T13:00:00+05:30"}
    campaign_id = await campaign_with(runtime, [(n, KOLKATA) for n in NUMBERS[:2]], schedule)
    async with runtime.sessions() as session, session.begin():
        session.add(ContactSource(campaign_id=campaign_id, source_url="sqlite://", query="q"))
    await set_contact(runtime, campaign_id, NUMBERS[0], state="completed", next_attempt_at=None)
    # No allowed calling time left (parked): it does not keep the campaign running.
    await set_contact(runtime, campaign_id, NUMBERS[1], next_attempt_at=None)
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.complete_finished(session, utc(2030, 6, 6))
    assert (await campaign_of(runtime, campaign_id)).state == "ongoing"

    assert await advance(runtime, utc(2030, 6, 7, 7, 29)) == []
    assert await advance(runtime, utc(2030, 6, 7, 7, 30)) == [(campaign_id, "completed")]

    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("completed", END_REACHED)
    last = (await events_of(runtime, campaign_id))[-1]
    assert (last.from_state, last.actor) == ("ongoing", "scheduler")
    contacts = await contacts_by_number(runtime, campaign_id)
    assert (contacts[NUMBERS[1]].state, contacts[NUMBERS[1]].last_error) == (
        "canceled",
        END_REACHED,
    )
