"""``campaign forecast``: per zone and local day, who is called when, and what holds the rest."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from campaign_engine.campaigns.blackouts import add_blackout
from campaign_engine.campaigns.forecast import Waiting, forecast, plan_days
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.campaigns.window_check import ContactCalendar
from campaign_engine.config import LimitSettings
from campaign_engine.db.models import CallAttempt, Contact, Suppression
from campaign_engine.runtime import Runtime
from tests.campaigns.support import (
    KOLKATA,
    MONDAY,
    NEW_YORK,
    NO_ZONE,
    WEEKDAYS_10_TO_13,
    add_attempt,
    campaign_with,
    set_contact,
    utc,
)

FAST = LimitSettings.model_validate({"vocobase": {"calls_per_minute": 60, "concurrency": 10}})


def _day(report_zone: dict, on: str) -> dict:  # type: ignore[type-arg]
    return next(day for day in report_zone["days"] if day["date"] == on)


async def test_each_zone_is_called_from_its_own_window_day_by_day(runtime: Runtime) -> None:
    contacts = [(f"+9198000000{i:02d}", KOLKATA) for i in range(3)]
    contacts += [(f"+1201555010{i}", NEW_YORK) for i in range(2)]
    campaign_id = await campaign_with(runtime, contacts, WEEKDAYS_10_TO_13)

    async with runtime.sessions() as session:
        report = (await forecast(session, campaign_id, FAST, MONDAY, days=2)).to_dict()

    india, york = report["zones"]
    assert (india["zone"], india["contacts"], york["zone"], york["contacts"]) == (
        "Asia/Calcutta", 3, "America/New_York", 2,
    )  # fmt: skip
    # Monday 00:00 UTC: 05:30 in India (window at 10:00), Sunday 20:00 in New York.
    assert india["first_call_at"] == utc(2030, 6, 3, 4, 30).isoformat()
    assert india["first_call_local"] == "2030-06-03 10:00"
    assert _day(india, "2030-06-03")["calls"] == 3
    assert _day(york, "2030-06-02")["calls"] == 0
    assert _day(york, "2030-06-02")["note"] == "sun is not a calling day (America/New_York)"
    assert _day(york, "2030-06-03")["calls"] == 2
    assert york["first_call_local"] == "2030-06-03 10:00"
    assert report["contacts"] == {"total": 5, "final": 0, "in_flight": 0, "waiting": 5}
    assert report["estimate"]["binding"] == "windows"


async def test_what_blocks_the_rest_is_counted_once_each_and_nothing_is_dialed(
    runtime: Runtime,
) -> None:
    contacts = [
        ("+919800000001", KOLKATA),
        ("+919800000002", KOLKATA),  # on the do-not-call list
        ("+80012345678", NO_ZONE),  # parked: no zone
        ("+13125550104", ("America/New_York", "Asia/Calcutta")),  # windows never overlap
        ("+919800000005", KOLKATA),  # already completed
    ]
    campaign_id = await campaign_with(runtime, contacts, WEEKDAYS_10_TO_13)
    async with runtime.sessions() as session, session.begin():
        session.add(Suppression(kind="number", pattern="+919800000002"))
    await set_contact(runtime, campaign_id, "+919800000005", state="completed")
    async with runtime.sessions() as session:
        before = (await session.execute(select(Contact.state, Contact.next_attempt_at))).all()

        report = await forecast(session, campaign_id, FAST, MONDAY)

        after = (await session.execute(select(Contact.state, Contact.next_attempt_at))).all()
        attempts = await session.scalar(select(func.count()).select_from(CallAttempt))
    assert report.blocked == {
        "suppressed": 1,
        "no_timezone": 1,
        "schedule_end": 0,
        "outside_every_window": 1,
    }
    assert [(z.zone, z.contacts) for z in report.zones] == [("Asia/Calcutta", 1)]
    assert (sorted(map(str, before)), attempts) == (sorted(map(str, after)), 0)


async def test_blackout_days_and_the_schedule_end_are_named(runtime: Runtime) -> None:
    schedule = {**WEEKDAYS_10_TO_13, "end": "2030-06-04"}
    campaign_id = await campaign_with(runtime, [("+919800000001", KOLKATA)], schedule)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, date(2030, 6, 3), campaign_id=campaign_id)
    async with runtime.sessions() as session:
        report = (await forecast(session, campaign_id, FAST, MONDAY, days=3)).to_dict()
        late = await forecast(session, campaign_id, FAST, utc(2030, 6, 4, 8), days=1)

    india = report["zones"][0]
    assert _day(india, "2030-06-03")["note"] == "blackout date 2030-06-03 (Asia/Calcutta)"
    assert _day(india, "2030-06-04")["calls"] == 1
    assert _day(india, "2030-06-05")["note"] == "outside the schedule's dates (Asia/Calcutta)"
    # Tuesday 13:30 IST: the window has closed and the schedule ends that day.
    assert late.blocked["schedule_end"] == 1


async def test_a_number_that_had_its_calls_today_waits_for_its_next_day(runtime: Runtime) -> None:
    numbers = ["+919800000001", "+919800000002"]
    campaign_id = await campaign_with(runtime, [(n, KOLKATA) for n in numbers], WEEKDAYS_10_TO_13)
    other = await campaign_with(runtime, [(numbers[0], KOLKATA)], WEEKDAYS_10_TO_13)
    contact_id = await set_contact(runtime, other, numbers[0], state="exhausted")
    at = utc(2030, 6, 3, 5)  # 10:30 IST
    for number in range(3):
        await add_attempt(runtime, other, contact_id, numbers[0], at, attempt_number=number + 1)

    async with runtime.sessions() as session:
        report = (await forecast(session, campaign_id, FAST, at + timedelta(minutes=5))).to_dict()

    assert report["held"] == {"daily_cap": 1}
    india = report["zones"][0]
    assert (_day(india, "2030-06-03")["calls"], _day(india, "2030-06-04")["calls"]) == (1, 1)


def test_calls_of_a_campaign_without_a_schedule_are_split_at_local_midnight() -> None:
    late_evening = utc(2030, 6, 3, 23)  # 23:00 UTC
    waiting = [Waiting(ContactCalendar(None, ()), late_evening, 120)]

    zones, blocked = plan_days(waiting, 1 / 60, late_evening, days=2)

    assert blocked == {}
    (found,) = zones
    assert found.zone == "UTC"
    calls = {day.day.isoformat(): round(day.calls) for day in found.days}
    assert calls == {"2030-06-03": 60, "2030-06-04": 60}


def test_contacts_beyond_the_days_shown_are_counted_as_later() -> None:
    calendar = ContactCalendar(parse_schedule(WEEKDAYS_10_TO_13), KOLKATA)
    zones, _ = plan_days([Waiting(calendar, MONDAY, 500)], 1 / 60, MONDAY, days=1)
    # One day of a 3-hour window at one call a minute: 180 called, 320 later.
    assert (round(zones[0].days[0].calls), zones[0].after_days) == (180, 320)
