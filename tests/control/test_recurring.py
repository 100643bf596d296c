"""Recurring campaigns (a saved source): ``ongoing`` instead of completed while every contact
so far is final, running again when contacts come, completed at their end date or when an
operator ends them; one-off campaigns complete as before."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select, update

from campaign_engine import clock
from campaign_engine.campaigns import lifecycle, service
from campaign_engine.campaigns.daily import DAILY_IMPORT
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.clock import FrozenClock
from campaign_engine.contacts.row_checks import Accepted
from campaign_engine.contacts.store import insert_batch
from campaign_engine.control import campaign_moves
from campaign_engine.control.recurring import forget_sources, ongoing_text
from campaign_engine.db.models import AuditEntry, Contact, ContactSource
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.outcomes.record import CallReport, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState, ContactState
from tests.campaigns.support import (
    KOLKATA,
    WEEKDAYS_10_TO_13,
    add_attempt,
    campaign_with,
    set_contact,
    utc,
)
from tests.control.test_campaign_moves import audit_of
from tests.dialer.support import campaign_of, contacts_of, events_of
from tests.harness import AGENT_ID

IST_WEEKDAYS = {**WEEKDAYS_10_TO_13, "timezone": "Asia/Kolkata"}
MONDAY_0800_IST = utc(2030, 6, 3, 2, 30)
MONDAY_1400_IST = utc(2030, 6, 3, 8, 30)
TUESDAY_NEXT_PULL = "every contact so far is final; next pull due 2030-06-04 09:30 Asia/Kolkata"
NUMBERS = [f"+91981234000{i}" for i in range(6)]


async def recurring(runtime: Runtime, numbers: list[str], *, pulled_today: bool = True) -> str:
    """A running campaign (IST weekdays 10:00-13:00) with a saved source; today's pull done."""
    campaign_id = await campaign_with(
        runtime, [(number, KOLKATA) for number in numbers], IST_WEEKDAYS, now=MONDAY_0800_IST
    )
    async with runtime.sessions() as session, session.begin():
        session.add(ContactSource(campaign_id=campaign_id, source_url="sqlite://", query="q"))
        if pulled_today:
            session.add(
                AuditEntry(
                    actor=lifecycle.SCHEDULER,
                    action=DAILY_IMPORT,
                    target_type="campaign",
                    target_id=campaign_id,
                    details={},
                    created_at=utc(2030, 6, 3, 4),
                )
            )
    return campaign_id


async def finish_all(runtime: Runtime, campaign_id: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id)
            .values(state=ContactState.COMPLETED.value, next_attempt_at=None)
        )


async def complete_finished(runtime: Runtime, now: datetime) -> list[str]:
    async with runtime.sessions() as session, session.begin():
        return await campaign_moves.complete_finished(session, now)


async def settle(runtime: Runtime, now: datetime) -> list[tuple[str, str]]:
    async with runtime.sessions() as session, session.begin():
        return await campaign_moves.settle_ongoing(session, now)


async def add_contact(runtime: Runtime, campaign_id: str, number: str, due: datetime) -> None:
    async with runtime.sessions() as session, session.begin():
        row = Accepted(2, number, "IN", KOLKATA, {"name": "new"})
        await insert_batch(session, campaign_id, [row], due_at=due)


async def sources_of(runtime: Runtime, campaign_id: str) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(ContactSource)
            .where(ContactSource.campaign_id == campaign_id)
        )
    return int(found or 0)


def test_the_ongoing_reason_says_when_the_next_pull_is_due_on_the_home_zones_clock() -> None:
    assert ongoing_text(utc(2030, 6, 4, 4), "Asia/Kolkata") == TUESDAY_NEXT_PULL
    assert ongoing_text(utc(2030, 6, 4, 4), "America/New_York") == (
        "every contact so far is final; next pull due 2030-06-04 00:00 America/New_York"
    )
    assert ongoing_text(None, "UTC") == (
        "every contact so far is final; no pull is due within a year under its schedule"
    )


async def test_a_recurring_campaign_whose_contacts_are_all_final_goes_ongoing_not_completed(
    runtime: Runtime,
) -> None:
    fed = await recurring(runtime, NUMBERS[:2])
    one_off = await campaign_with(runtime, [(NUMBERS[2], KOLKATA)], IST_WEEKDAYS)
    await finish_all(runtime, fed)
    await finish_all(runtime, one_off)

    assert await complete_finished(runtime, MONDAY_1400_IST) == [one_off]

    campaign = await campaign_of(runtime, fed)
    assert (campaign.state, campaign.state_reason, campaign.finished_at) == (
        "ongoing",
        TUESDAY_NEXT_PULL,
        None,
    )
    last = (await events_of(runtime, fed))[-1]
    assert (last.from_state, last.to_state, last.actor) == ("running", "ongoing", "scheduler")
    assert (await campaign_of(runtime, one_off)).state == "completed"
    # Staying ongoing is not moving again.
    assert await complete_finished(runtime, MONDAY_1400_IST) == []
    assert len(await events_of(runtime, fed)) == 2


async def test_a_recurring_campaign_with_contacts_left_to_call_keeps_running(
    runtime: Runtime,
) -> None:
    campaign_id = await recurring(runtime, NUMBERS[:2])

    assert await complete_finished(runtime, MONDAY_1400_IST) == []

    assert (await campaign_of(runtime, campaign_id)).state == "running"


async def test_a_recurring_campaign_started_empty_waits_ongoing_for_its_first_pull(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [], IST_WEEKDAYS, now=MONDAY_0800_IST, start=False)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="has no contacts"):
            await service.start_campaign(session, campaign_id, None, now=MONDAY_0800_IST)
    async with runtime.sessions() as session, session.begin():
        session.add(ContactSource(campaign_id=campaign_id, source_url="sqlite://", query="q"))
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign_id, None, now=MONDAY_0800_IST)

    assert await complete_finished(runtime, MONDAY_0800_IST) == []

    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == (
        "ongoing",
        "every contact so far is final; next pull due 2030-06-03 09:30 Asia/Kolkata",
    )


async def test_an_ongoing_campaign_given_contacts_runs_again_and_the_others_wait(
    runtime: Runtime,
) -> None:
    fed, idle, forgotten = [await recurring(runtime, [n]) for n in NUMBERS[:3]]
    for campaign_id in (fed, idle, forgotten):
        await finish_all(runtime, campaign_id)
    await complete_finished(runtime, MONDAY_1400_IST)
    await add_contact(runtime, fed, NUMBERS[4], utc(2030, 6, 4, 4, 30))
    async with runtime.sessions() as session, session.begin():
        await forget_sources(session, forgotten)

    moved = await settle(runtime, MONDAY_1400_IST)

    assert sorted(moved) == sorted([(fed, "running"), (forgotten, "completed")])
    campaign = await campaign_of(runtime, fed)
    assert (campaign.state, campaign.state_reason) == ("running", campaign_moves.NEW_CONTACTS)
    assert (await campaign_of(runtime, forgotten)).state_reason == campaign_moves.NO_SOURCE_LEFT
    assert (await campaign_of(runtime, idle)).state_reason == TUESDAY_NEXT_PULL
    # A day later without a pull (none ran on Tuesday yet), the reason follows.
    assert await settle(runtime, utc(2030, 6, 4, 8, 30)) == []
    assert (await campaign_of(runtime, idle)).state_reason == (
        "every contact so far is final; next pull due 2030-06-04 09:30 Asia/Kolkata"
    )


async def test_a_parked_contact_does_not_make_an_ongoing_campaign_run(runtime: Runtime) -> None:
    campaign_id = await recurring(runtime, NUMBERS[:1])
    await finish_all(runtime, campaign_id)
    await complete_finished(runtime, MONDAY_1400_IST)
    await add_contact(runtime, campaign_id, NUMBERS[5], utc(2030, 6, 4, 4, 30))
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.phone_e164 == NUMBERS[5]).values(next_attempt_at=None)
        )

    assert await settle(runtime, MONDAY_1400_IST) == []
    assert (await campaign_of(runtime, campaign_id)).state == "ongoing"


async def ongoing(runtime: Runtime, numbers: list[str]) -> str:
    campaign_id = await recurring(runtime, numbers)
    await finish_all(runtime, campaign_id)
    await complete_finished(runtime, MONDAY_1400_IST)
    assert (await campaign_of(runtime, campaign_id)).state == "ongoing"
    return campaign_id


async def test_pause_resume_and_cancel_work_from_ongoing(runtime: Runtime) -> None:
    campaign_id = await ongoing(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        paused = await campaign_moves.control(
            session, runtime.keys, campaign_id, "pause", actor="asha"
        )
    assert paused.state is CampaignState.PAUSED
    async with runtime.sessions() as session, session.begin():
        resumed = await campaign_moves.resume(session, campaign_id, actor="ravi")
    # Nothing to call: back where it was, waiting for its next pull.
    assert resumed.state is CampaignState.ONGOING
    assert (await campaign_of(runtime, campaign_id)).state == "ongoing"

    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="asha")
    await add_contact(runtime, campaign_id, NUMBERS[4], utc(2030, 6, 4, 4, 30))
    async with runtime.sessions() as session, session.begin():
        resumed = await campaign_moves.resume(session, campaign_id, actor="ravi")
    # A contact came in while paused: it runs.
    assert resumed.state is CampaignState.RUNNING

    other = await ongoing(runtime, NUMBERS[1:2])
    async with runtime.sessions() as session, session.begin():
        canceled = await campaign_moves.control(
            session, runtime.keys, other, "cancel", actor="meena"
        )
    assert canceled.state is CampaignState.CANCELED
    assert [action for action, _, _ in await audit_of(runtime, campaign_id)] == [
        DAILY_IMPORT,
        "pause",
        "resume",
        "pause",
        "resume",
    ]
    assert [(e.from_state, e.to_state) for e in await events_of(runtime, campaign_id)][2:] == [
        ("ongoing", "paused"),
        ("paused", "ongoing"),
        ("ongoing", "paused"),
        ("paused", "running"),
    ]


async def test_ending_an_ongoing_campaign_completes_it_at_once_and_forgets_its_sources(
    runtime: Runtime,
) -> None:
    campaign_id = await ongoing(runtime, NUMBERS[:1])

    async with runtime.sessions() as session, session.begin():
        moved = await campaign_moves.end(session, campaign_id, actor="asha", reason="season over")

    assert (moved.state, moved.sources_forgotten) == (CampaignState.COMPLETED, 1)
    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == (
        "completed",
        "ended by operator: season over",
    )
    assert campaign.finished_at is not None
    assert await sources_of(runtime, campaign_id) == 0
    (action, actor, details) = (await audit_of(runtime, campaign_id))[-1]
    assert (action, actor, details["reason"]) == ("end", "asha", "season over")
    assert details["sources_forgotten"] == [
        {"id": details["sources_forgotten"][0]["id"], "source_url": "sqlite://", "query": "q"}
    ]
    last = (await events_of(runtime, campaign_id))[-1]
    assert (last.from_state, last.to_state, last.actor) == ("ongoing", "completed", "asha")


async def test_an_ended_campaign_with_contacts_left_completes_once_they_are_final(
    runtime: Runtime,
) -> None:
    campaign_id = await recurring(runtime, NUMBERS[:2])

    async with runtime.sessions() as session, session.begin():
        moved = await campaign_moves.end(session, campaign_id, actor="asha")

    assert moved.state is CampaignState.RUNNING
    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == (
        "running",
        "ended by operator; completes when its contacts are final",
    )
    await finish_all(runtime, campaign_id)
    # One-off from now on: it completes instead of waiting for a pull.
    assert await complete_finished(runtime, MONDAY_1400_IST) == [campaign_id]


async def test_end_refuses_a_one_off_campaign_and_a_draft(runtime: Runtime) -> None:
    one_off = await campaign_with(runtime, [(NUMBERS[0], KOLKATA)], IST_WEEKDAYS)
    async with runtime.sessions() as session, session.begin():
        draft = await service.create_campaign(session, name="draft", agent_id=AGENT_ID)
        session.add(ContactSource(campaign_id=draft.id, source_url="sqlite://", query="q"))

    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="has no saved source, so it is not recurring"):
            await campaign_moves.end(session, one_off, actor="asha")
        with pytest.raises(CampaignError, match="is draft; only a started campaign"):
            await campaign_moves.end(session, draft.id, actor="asha")

    assert (await campaign_of(runtime, one_off)).state == "running"
    assert await sources_of(runtime, draft.id) == 1
    assert await audit_of(runtime, one_off) == []


async def test_a_paused_campaign_ended_stays_paused_and_resumes_one_off(runtime: Runtime) -> None:
    campaign_id = await ongoing(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="asha")
    async with runtime.sessions() as session, session.begin():
        assert (await campaign_moves.end(session, campaign_id, actor="asha")).state is (
            CampaignState.PAUSED
        )
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="asha")

    assert await complete_finished(runtime, MONDAY_1400_IST) == [campaign_id]
    assert {c.state for c in await contacts_of(runtime, campaign_id)} == {"completed"}


async def test_a_retry_that_falls_after_the_window_carries_to_the_next_days_window(
    runtime: Runtime,
) -> None:
    campaign_id = await recurring(runtime, NUMBERS[:1])
    contact_id = await set_contact(
        runtime, campaign_id, NUMBERS[0], state="calling", attempts_count=1
    )
    attempt_id = await add_attempt(
        runtime,
        campaign_id,
        contact_id,
        NUMBERS[0],
        utc(2030, 6, 3, 7, 25),
        state="started",
        outcome=None,
    )
    scheduler = Scheduler(runtime)

    # Monday 12:59:59.95 IST: not answered; the retry's delay ends after the window closes.
    with clock.use(FrozenClock(utc(2030, 6, 3, 7, 29, 59, 950_000))) as now:
        async with runtime.sessions() as session, session.begin():
            await record_outcome(session, attempt_id, CallReport(call_status="no_answer"))
        (contact,) = await contacts_of(runtime, campaign_id)
        assert (contact.state, contact.next_attempt_at) == ("retrying", utc(2030, 6, 4, 4, 30))

        # The retry keeps the campaign running overnight (it is not all final).
        now.set(MONDAY_1400_IST)
        assert await complete_finished(runtime, now.now()) == []
        assert await scheduler.enqueue_due(now.now()) == 0
        now.set(utc(2030, 6, 4, 4, 29))
        assert await scheduler.enqueue_due(now.now()) == 0
        # Tuesday 10:00 IST: the window opens and the retry is queued.
        now.set(utc(2030, 6, 4, 4, 30))
        assert await scheduler.enqueue_due(now.now()) == 1
    assert (await campaign_of(runtime, campaign_id)).state == "running"
    assert [c.state for c in await contacts_of(runtime, campaign_id)] == ["queued"]
