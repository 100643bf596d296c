"""Waiting contacts are placed at the next moment they may be called, in bulk, per zone group."""

from __future__ import annotations

from datetime import datetime, timedelta

from campaign_engine.campaigns import service
from campaign_engine.campaigns.lifecycle import PARKED_REASON
from campaign_engine.campaigns.replan import replan_waiting
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.control import campaign_moves
from campaign_engine.runtime import Runtime
from tests.campaigns.support import (
    KOLKATA,
    MONDAY,
    NEW_YORK,
    NO_ZONE,
    NY_AND_CHICAGO,
    WEEKDAYS_10_TO_13,
    campaign_with,
    contacts_by_number,
    set_contact,
    utc,
)


async def times(runtime: Runtime, campaign_id: str) -> dict[str, datetime | None]:
    contacts = await contacts_by_number(runtime, campaign_id)
    return {number: contact.next_attempt_at for number, contact in contacts.items()}


CONTACTS = [
    ("+919800000001", KOLKATA),
    ("+12015550101", NEW_YORK),
    ("+12015550102", NY_AND_CHICAGO),
    ("+80012345678", NO_ZONE),
    ("+12015550104", ("America/New_York", "Asia/Calcutta")),
]


async def test_starting_places_each_contact_at_its_first_window_on_its_own_clock(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, CONTACTS, WEEKDAYS_10_TO_13)

    placed = await times(runtime, campaign_id)
    assert placed == {
        "+919800000001": utc(2030, 6, 3, 4, 30),  # Monday 10:00 IST
        "+12015550101": utc(2030, 6, 3, 14),  # Monday 10:00 EDT
        "+12015550102": utc(2030, 6, 3, 15),  # 10:00 in Chicago: inside in both zones
        "+80012345678": None,  # no zone known: parked
        "+12015550104": None,  # New York's and India's windows never overlap: parked
    }


async def test_a_pinned_zone_places_every_contact_alike(runtime: Runtime) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "timezone": "Europe/London"}
    campaign_id = await campaign_with(runtime, CONTACTS, schedule)

    placed = {c.next_attempt_at for c in (await contacts_by_number(runtime, campaign_id)).values()}
    assert placed == {utc(2030, 6, 3, 9)}  # 10:00 BST


async def test_a_pinned_zone_with_a_callee_clock_preset_places_each_callee_on_both_clocks(
    runtime: Runtime,
) -> None:
    """Issue 15: windows 08:00-12:00 New York under us_tcpa; a Los Angeles number waits for
    08:00 its own time (11:00 in New York); a number with no zone known reads the pinned one."""
    schedule = {"preset": "us_tcpa", "timezone": "America/New_York", "windows": ["08:00-12:00"]}
    contacts = [
        ("+12015550101", NEW_YORK),
        ("+13105550101", ("America/Los_Angeles",)),
        ("+80012345678", NO_ZONE),
    ]
    campaign_id = await campaign_with(runtime, contacts, schedule)

    assert await times(runtime, campaign_id) == {
        "+12015550101": utc(2030, 6, 3, 12),  # Monday 08:00 EDT
        "+13105550101": utc(2030, 6, 3, 15),  # Monday 08:00 PDT = 11:00 EDT
        "+80012345678": utc(2030, 6, 3, 12),
    }


async def test_no_schedule_keeps_contacts_due_at_once(runtime: Runtime) -> None:
    campaign_id = await campaign_with(runtime, CONTACTS, None)
    placed = {c.next_attempt_at for c in (await contacts_by_number(runtime, campaign_id)).values()}
    assert placed == {MONDAY}


async def test_retry_times_inside_a_window_stay_and_others_move_to_the_next_window(
    runtime: Runtime,
) -> None:
    numbers = [f"+9198000000{i:02d}" for i in range(5)]
    campaign_id = await campaign_with(runtime, [(n, KOLKATA) for n in numbers], WEEKDAYS_10_TO_13)
    retry_at = {
        numbers[0]: utc(2030, 6, 3, 5),  # Monday 10:30 IST: allowed, kept
        numbers[1]: utc(2030, 6, 3, 9),  # Monday 14:30 IST: moves to Tuesday 10:00
        numbers[2]: utc(2030, 6, 7, 12),  # Friday 17:30 IST: moves to Monday 10:00
        numbers[3]: MONDAY - timedelta(hours=1),  # overdue: the first window from now
        numbers[4]: None,  # parked before: placed again
    }
    for number, at in retry_at.items():
        await set_contact(
            runtime, campaign_id, number, state="retrying", attempts_count=1, next_attempt_at=at
        )

    async with runtime.sessions() as session, session.begin():
        await replan_waiting(session, campaign_id, MONDAY)

    placed = await times(runtime, campaign_id)
    assert placed == {
        numbers[0]: utc(2030, 6, 3, 5),
        numbers[1]: utc(2030, 6, 4, 4, 30),
        numbers[2]: utc(2030, 6, 10, 4, 30),
        numbers[3]: utc(2030, 6, 3, 4, 30),
        numbers[4]: utc(2030, 6, 3, 4, 30),
    }


async def test_a_new_schedule_moves_waiting_contacts_to_its_windows(runtime: Runtime) -> None:
    campaign_id = await campaign_with(runtime, CONTACTS[:2], WEEKDAYS_10_TO_13)
    evenings = {"windows": ["18:00-20:00"], "days": ["sat"]}

    async with runtime.sessions() as session, session.begin():
        moved = await service.set_schedule(
            session, campaign_id, parse_schedule(evenings), now=MONDAY
        )

    assert moved == 2
    placed = await times(runtime, campaign_id)
    assert placed == {
        "+919800000001": utc(2030, 6, 8, 12, 30),  # Saturday 18:00 IST
        "+12015550101": utc(2030, 6, 8, 22),  # Saturday 18:00 EDT
    }


async def test_clearing_the_schedule_makes_parked_and_waiting_contacts_due_now(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, CONTACTS, WEEKDAYS_10_TO_13)
    later = MONDAY + timedelta(minutes=5)

    async with runtime.sessions() as session, session.begin():
        await service.set_schedule(session, campaign_id, None, now=later)

    placed = {c.next_attempt_at for c in (await contacts_by_number(runtime, campaign_id)).values()}
    assert placed == {later}


async def test_only_due_places_new_imports_and_leaves_placed_contacts_alone(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, CONTACTS[:1], WEEKDAYS_10_TO_13)
    # Placed on Wednesday (say, by an earlier replan): only due or parked contacts move.
    await set_contact(runtime, campaign_id, CONTACTS[0][0], next_attempt_at=utc(2030, 6, 5, 5))

    async with runtime.sessions() as session, session.begin():
        assert await replan_waiting(session, campaign_id, MONDAY, only_due=True) == 0

    placed = await contacts_by_number(runtime, campaign_id)
    assert placed[CONTACTS[0][0]].next_attempt_at == utc(2030, 6, 5, 5)


async def test_a_campaign_whose_remaining_contacts_are_parked_completes_and_cancels_them(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, CONTACTS, WEEKDAYS_10_TO_13)
    for number, _ in CONTACTS[:3]:
        await set_contact(runtime, campaign_id, number, state="completed", next_attempt_at=None)

    async with runtime.sessions() as session, session.begin():
        assert await campaign_moves.complete_finished(session) == [campaign_id]

    contacts = await contacts_by_number(runtime, campaign_id)
    parked = [contacts[number] for number, _ in CONTACTS[3:]]
    assert {(c.state, c.last_error) for c in parked} == {("canceled", PARKED_REASON)}
    assert {contacts[number].state for number, _ in CONTACTS[:3]} == {"completed"}
