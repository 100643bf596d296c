"""May this contact be called now? Windows, blackout dates and the per-number daily cap."""

from __future__ import annotations

from datetime import date, timedelta

from campaign_engine.campaigns.blackouts import add_blackout
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.campaigns.window_check import (
    ContactCalendar,
    hold_for,
    local_day_bounds,
)
from campaign_engine.runtime import Runtime
from tests.campaigns.support import (
    KOLKATA,
    NEW_YORK,
    NO_ZONE,
    WEEKDAYS_10_TO_13,
    add_attempt,
    campaign_with,
    set_contact,
    utc,
)

NUMBER = "+919800000001"
MONDAY_11_IST = utc(2030, 6, 3, 5, 30)


async def contact_id_of(runtime: Runtime, campaign_id: str, number: str = NUMBER) -> int:
    return await set_contact(runtime, campaign_id, number)


async def test_inside_the_window_a_contact_may_be_called(runtime: Runtime) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    contact_id = await contact_id_of(runtime, campaign_id)
    async with runtime.sessions() as session:
        assert await hold_for(session, contact_id, NUMBER, MONDAY_11_IST) is None


async def test_outside_the_window_it_waits_for_the_next_opening_with_the_reason(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    contact_id = await contact_id_of(runtime, campaign_id)
    friday_evening = utc(2030, 6, 7, 14)  # 19:30 IST

    async with runtime.sessions() as session:
        hold = await hold_for(session, contact_id, NUMBER, friday_evening)

    assert hold is not None
    assert hold.until == utc(2030, 6, 10, 4, 30)  # Monday 10:00 IST
    assert hold.reason == "outside the calling window at 19:30 Asia/Calcutta"


async def test_a_blackout_date_from_the_table_holds_calls_until_the_next_day(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    other = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    contact_id = await contact_id_of(runtime, campaign_id)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, date(2030, 6, 3), reason="holiday")  # every campaign
        await add_blackout(session, date(2030, 6, 4), campaign_id=other)  # another campaign

    async with runtime.sessions() as session:
        hold = await hold_for(session, contact_id, NUMBER, MONDAY_11_IST)

    assert hold is not None
    assert hold.reason == "blackout date 2030-06-03 (Asia/Calcutta)"
    assert hold.until == utc(2030, 6, 4, 4, 30)  # Tuesday: only the other campaign's blackout


async def test_the_daily_cap_counts_calls_to_the_number_from_every_campaign(
    runtime: Runtime,
) -> None:
    first = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    second = await campaign_with(runtime, [(NUMBER, KOLKATA)], WEEKDAYS_10_TO_13)
    first_contact = await contact_id_of(runtime, first)
    second_contact = await contact_id_of(runtime, second)
    await add_attempt(runtime, first, first_contact, NUMBER, utc(2030, 6, 3, 4, 40))
    await add_attempt(
        runtime, first, first_contact, NUMBER, utc(2030, 6, 3, 4, 50), attempt_number=2
    )
    # Yesterday's call (IST) and one that never rang do not count.
    await add_attempt(runtime, second, second_contact, NUMBER, utc(2030, 6, 2, 18, 0))
    await add_attempt(
        runtime, second, second_contact, NUMBER, utc(2030, 6, 3, 5), attempt_number=2,
        state="not_sent", outcome=None,
    )  # fmt: skip

    async with runtime.sessions() as session:
        assert await hold_for(session, second_contact, NUMBER, MONDAY_11_IST, daily_cap=3) is None
        hold = await hold_for(session, second_contact, NUMBER, MONDAY_11_IST, daily_cap=2)

    assert hold is not None
    assert hold.reason == f"daily cap reached: 2 calls to {NUMBER} today, at most 2"
    assert hold.until == utc(2030, 6, 4, 4, 30)  # the next day's window


async def test_the_daily_cap_applies_to_campaigns_without_a_schedule(runtime: Runtime) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, KOLKATA)], None)
    contact_id = await contact_id_of(runtime, campaign_id)
    await add_attempt(runtime, campaign_id, contact_id, NUMBER, utc(2030, 6, 3, 5))

    async with runtime.sessions() as session:
        hold = await hold_for(session, contact_id, NUMBER, MONDAY_11_IST, daily_cap=1)

    assert hold is not None
    assert hold.until == utc(2030, 6, 3, 18, 30)  # midnight IST: the number's next day


async def test_a_contact_with_no_allowed_moment_left_gets_no_time(runtime: Runtime) -> None:
    campaign_id = await campaign_with(runtime, [(NUMBER, NO_ZONE)], WEEKDAYS_10_TO_13)
    contact_id = await contact_id_of(runtime, campaign_id)
    async with runtime.sessions() as session:
        hold = await hold_for(session, contact_id, NUMBER, MONDAY_11_IST)
    assert hold is not None
    assert hold.until is None
    assert hold.reason == "no time zone is known for the number (set fallback_timezone)"


def test_the_reasons_say_which_rule_refuses() -> None:
    schedule = parse_schedule(
        {
            **WEEKDAYS_10_TO_13,
            "blackout_dates": ["2030-06-04"],
            "start": "2030-06-03T00:00:00Z",
            "end": "2030-06-30T00:00:00Z",
        }
    )
    calendar = ContactCalendar(schedule, NEW_YORK)
    assert calendar.why_not(utc(2030, 6, 2)) == "before the schedule's start"
    assert calendar.why_not(utc(2030, 7, 1)) == "after the schedule's end"
    assert calendar.why_not(utc(2030, 6, 4, 15)) == "blackout date 2030-06-04 (America/New_York)"
    assert calendar.why_not(utc(2030, 6, 8, 15)) == "sat is not a calling day (America/New_York)"
    assert calendar.why_not(utc(2030, 6, 3, 20)) == (
        "outside the calling window at 16:00 America/New_York"
    )
    india = ContactCalendar(parse_schedule({"preset": "india_promotional", "timezone": "UTC"}), ())
    assert india.why_not(utc(2030, 6, 3, 18)) == (
        "outside the india_promotional hours at 23:30 Asia/Kolkata"
    )


def test_a_local_day_follows_the_zones_midnights() -> None:
    assert local_day_bounds("Asia/Calcutta", utc(2030, 6, 3, 20)) == (
        utc(2030, 6, 3, 18, 30),
        utc(2030, 6, 4, 18, 30),
    )
    # The day daylight saving starts in New York is 23 hours long.
    start, end = local_day_bounds("America/New_York", utc(2030, 3, 10, 12))
    assert end - start == timedelta(hours=23)
