"""May this contact be called now? Windows, blackout dates and the per-number daily cap."""

from __future__ import annotations

from datetime import date, timedelta

from campaign_engine.campaigns.blackouts import add_blackout
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.campaigns.window_check import (
    ContactCalendar,
    hold_for,
    local_day_bounds,
    window_hold,
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


# Issue 15: a preset speaks of the callee's time, whatever zone the campaign pins.
LOS_ANGELES = ("America/Los_Angeles",)
NY_PINNED_TCPA = {"preset": "us_tcpa", "timezone": "America/New_York"}


def test_a_pinned_zone_never_lets_a_preset_allow_an_early_morning_in_the_callees_zone() -> None:
    """New York pinned, us_tcpa: 08:30 in New York is 05:30 in Los Angeles — not callable."""
    calendar = ContactCalendar(parse_schedule(NY_PINNED_TCPA), LOS_ANGELES)
    wednesday_0530_la = utc(2026, 6, 3, 12, 30)  # 08:30 EDT, inside the campaign's windows

    hold = window_hold(calendar, wednesday_0530_la)

    assert hold is not None
    assert hold.reason == "outside the us_tcpa hours at 05:30 America/Los_Angeles"
    assert hold.until == utc(2026, 6, 3, 15)  # 08:00 PDT = 11:00 EDT
    assert window_hold(calendar, utc(2026, 6, 4, 0, 30)) is None  # 20:30 EDT, 17:30 PDT
    # The pinned zone still narrows: 21:30 EDT (18:30 in Los Angeles) is past its windows.
    late = window_hold(calendar, utc(2026, 6, 4, 1, 30))
    assert late is not None
    assert late.reason == "outside the calling window at 21:30 America/New_York"
    assert late.until == utc(2026, 6, 4, 15)  # Thursday 08:00 PDT
    # A New York number reads both on one clock: 08:30 EDT is fine.
    assert (
        window_hold(ContactCalendar(parse_schedule(NY_PINNED_TCPA), NEW_YORK), wednesday_0530_la)
        is None
    )


def test_a_campaign_pinned_where_it_is_evening_does_not_call_new_york_at_night() -> None:
    """Pinned to Auckland (18:56 there), a New York number is at 00:56: held until both
    clocks allow it (14:00 in New York = 08:00 the next morning in Auckland)."""
    schedule = parse_schedule({"preset": "us_tcpa", "timezone": "Pacific/Auckland"})
    calendar = ContactCalendar(schedule, NEW_YORK)
    night_in_new_york = utc(2026, 1, 15, 5, 56)  # 00:56 EST, 18:56 NZDT

    hold = window_hold(calendar, night_in_new_york)

    assert hold is not None
    assert hold.reason == "outside the us_tcpa hours at 00:56 America/New_York"
    assert hold.until == utc(2026, 1, 15, 19)  # 14:00 EST, Friday 08:00 NZDT


def test_the_preset_follows_the_callees_daylight_saving_not_the_pinned_zones() -> None:
    """Pinned to India (no daylight saving), us_tcpa, a New York number: 08:00 New York is
    18:30 IST before New York springs forward (8 March 2026) and 17:30 IST after."""
    calendar = ContactCalendar(
        parse_schedule({"preset": "us_tcpa", "timezone": "Asia/Kolkata"}), NEW_YORK
    )
    friday_1745_ist = utc(2026, 3, 6, 12, 15)  # 07:15 EST
    monday_1745_ist = utc(2026, 3, 9, 12, 15)  # 08:15 EDT

    hold = window_hold(calendar, friday_1745_ist)
    assert hold is not None
    assert hold.reason == "outside the us_tcpa hours at 07:15 America/New_York"
    assert hold.until == utc(2026, 3, 6, 13)  # 08:00 EST = 18:30 IST
    assert window_hold(calendar, monday_1745_ist) is None
    # Every day of the week, the first allowed moment is 08:00 on the New York clock.
    firsts = [calendar.next_allowed(utc(2026, 3, day, 3, 30)) for day in range(5, 12)]
    assert firsts == [
        utc(2026, 3, 5, 13), utc(2026, 3, 6, 13), utc(2026, 3, 7, 13), utc(2026, 3, 8, 12),
        utc(2026, 3, 9, 12), utc(2026, 3, 10, 12), utc(2026, 3, 11, 12),
    ]  # fmt: skip


def test_a_number_in_several_zones_must_be_inside_the_preset_hours_in_each() -> None:
    """Pinned to London, us_tcpa, a number in New York and Los Angeles: 14:00 BST is 09:00
    in New York but 06:00 in Los Angeles; the calls wait for 08:00 in Los Angeles (16:00)."""
    calendar = ContactCalendar(
        parse_schedule({"preset": "us_tcpa", "timezone": "Europe/London"}),
        ("America/New_York", "America/Los_Angeles"),
    )
    assert [rule.zone for rule in calendar.rules()] == [
        "Europe/London", "America/New_York", "America/Los_Angeles",
    ]  # fmt: skip

    hold = window_hold(calendar, utc(2026, 6, 3, 13))

    assert hold is not None
    assert hold.reason == "outside the us_tcpa hours at 06:00 America/Los_Angeles"
    assert hold.until == utc(2026, 6, 3, 15)  # 16:00 BST
    assert window_hold(calendar, utc(2026, 6, 3, 19, 30)) is None  # 20:30 BST, 15:30 and 12:30
    # 21:00 BST closes the campaign's window before New York's 21:00 (02:00 BST).
    assert calendar.next_allowed(utc(2026, 6, 3, 20)) == utc(2026, 6, 4, 15)


def test_without_a_preset_a_pinned_zone_alone_decides_as_before() -> None:
    """No preset: the pinned zone's windows are the only rule, whatever the callee's zone."""
    schedule = parse_schedule({"timezone": "America/New_York", "windows": ["08:00-21:00"]})
    calendar = ContactCalendar(schedule, LOS_ANGELES)
    assert [rule.zone for rule in calendar.rules()] == ["America/New_York"]
    assert window_hold(calendar, utc(2026, 6, 3, 12, 30)) is None  # 08:30 EDT, 05:30 PDT
    hold = window_hold(calendar, utc(2026, 6, 3, 11, 30))  # 07:30 EDT
    assert hold is not None
    assert hold.until == utc(2026, 6, 3, 12)
    assert hold.reason == "outside the calling window at 07:30 America/New_York"
