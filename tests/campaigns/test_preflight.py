"""Preflight: callable and blocked contacts (and why), and an estimated finish."""

from __future__ import annotations

from datetime import timedelta

from campaign_engine.campaigns.preflight import preflight
from campaign_engine.config import LimitSettings
from campaign_engine.db.models import CallAttempt, Suppression
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

SLOW = LimitSettings.model_validate({"vocobase": {"calls_per_minute": 60, "concurrency": 10}})


async def test_without_a_configured_concurrency_the_finish_counts_the_partners_and_calls(
    runtime: Runtime,
) -> None:
    """Issue 16: 302 calls of up to 10 min were "done in 2.5 minutes" (the rate alone, with
    concurrency "auto" ignored); at 5 at once they take about 302 / 5 x 10 min."""
    numbers = [f"+9198100{i:05d}" for i in range(302)]
    campaign_id = await campaign_with(runtime, [(n, KOLKATA) for n in numbers], None)
    fast = LimitSettings.model_validate({"vocobase": {"calls_per_minute": 120}})

    async with runtime.sessions() as session:
        report = await preflight(session, campaign_id, fast, MONDAY, partner_concurrency=5)

    assert report.binding == "concurrency"
    assert report.calls_per_hour == 30.0
    assert report.estimated_finish == MONDAY + timedelta(seconds=302 / 5 * 600)
    assert report.binding_description.startswith("limited by concurrency 5 and ~10 min calls")
    data = report.to_dict()
    assert (data["binding"], data["expected_calls"], data["attempts_per_contact"]) == (
        "concurrency",
        302.0,
        1.0,
    )


async def test_preflight_counts_callable_and_blocked_contacts_with_their_reasons(
    runtime: Runtime,
) -> None:
    contacts = [
        ("+919800000001", KOLKATA),
        ("+919800000002", KOLKATA),
        ("+919800000003", KOLKATA),  # suppressed by number
        ("+12015550101", NEW_YORK),  # suppressed by prefix
        ("+80012345678", NO_ZONE),
        ("+13125550104", ("America/New_York", "Asia/Calcutta")),  # windows never overlap
        ("+919800000007", KOLKATA),  # already final
    ]
    campaign_id = await campaign_with(runtime, contacts, WEEKDAYS_10_TO_13, start=False)
    async with runtime.sessions() as session, session.begin():
        session.add(Suppression(kind="number", pattern="+919800000003"))
        session.add(Suppression(kind="prefix", pattern="+1201555010", campaign_id=campaign_id))
    await set_contact(runtime, campaign_id, "+919800000007", state="completed")

    async with runtime.sessions() as session:
        report = await preflight(session, campaign_id, SLOW, MONDAY)

    assert (report.contacts, report.final, report.callable) == (7, 1, 2)
    assert report.blocked == {"suppressed": 2, "no_timezone": 1, "outside_every_window": 1}
    assert report.first_call_at == utc(2030, 6, 3, 4, 30)
    # No call finished yet: the agent's maximum (600 s); 10 at once -> 60 calls an hour;
    # both calls start at 10:00 IST and last 10 minutes.
    assert (report.average_call_seconds, report.calls_per_hour) == (600.0, 60.0)
    assert report.estimated_finish == utc(2030, 6, 3, 4, 40)
    assert report.to_dict()["estimated_finish"] == "2030-06-03T04:40:00+00:00"
    assert report.binding == "windows"
    assert "Asia/Calcutta contacts start at 10:00 their time" in report.binding_description


async def test_the_estimate_uses_the_campaigns_finished_calls_and_spans_days(
    runtime: Runtime,
) -> None:
    numbers = [f"+9198000{i:05d}" for i in range(400)]
    campaign_id = await campaign_with(runtime, [(n, KOLKATA) for n in numbers], WEEKDAYS_10_TO_13)
    contact_id = await set_contact(runtime, campaign_id, numbers[0], state="completed")
    for number in range(5):  # five ended calls: enough to learn the length from
        attempt_id = await add_attempt(
            runtime,
            campaign_id,
            contact_id,
            numbers[0],
            MONDAY,
            attempt_number=number + 1,
            outcome="completed",
        )
        async with runtime.sessions() as session, session.begin():
            attempt = await session.get(CallAttempt, attempt_id)
            assert attempt is not None
            attempt.duration_seconds = 300.0

    async with runtime.sessions() as session:
        report = await preflight(session, campaign_id, SLOW, MONDAY)

    # 300 s calls, 10 at once: 120 calls an hour, 360 a 3-hour window: 399 need Tuesday too.
    assert (report.average_call_seconds, report.average_call_from) == (300.0, "5 ended calls")
    assert report.calls_per_hour == 120.0
    assert report.estimated_finish == utc(2030, 6, 4, 4, 30) + timedelta(minutes=19.5)


async def test_a_campaign_without_a_schedule_can_call_everyone_now(runtime: Runtime) -> None:
    campaign_id = await campaign_with(runtime, [("+80012345678", NO_ZONE)], None, start=False)
    async with runtime.sessions() as session:
        report = await preflight(session, campaign_id, SLOW, MONDAY)
    assert (report.callable, report.first_call_at) == (1, MONDAY)
    assert report.estimated_finish == MONDAY + timedelta(minutes=10)


async def test_a_pinned_zone_under_a_callee_clock_preset_is_warned_and_narrowed(
    runtime: Runtime,
) -> None:
    """Issue 15: windows 08:00-10:00 New York under us_tcpa are 05:00-07:00 in Los Angeles,
    never inside its 08:00-21:00: its numbers have no allowed moment, and preflight says why."""
    schedule = {"preset": "us_tcpa", "timezone": "America/New_York", "windows": ["08:00-10:00"]}
    contacts = [("+12015550101", NEW_YORK), ("+13105550101", ("America/Los_Angeles",))]
    campaign_id = await campaign_with(runtime, contacts, schedule, start=False)

    async with runtime.sessions() as session:
        report = await preflight(session, campaign_id, SLOW, MONDAY)

    assert (report.callable, report.blocked["outside_every_window"]) == (1, 1)
    assert report.warnings == [
        "preset us_tcpa applies in each callee's own time: with timezone America/New_York, "
        "the windows 08:00-10:00 (America/New_York time) are narrowed for callees in other "
        "zones to what 08:00-21:00 their own time allows (on 2030-06-02: America/Los_Angeles "
        "callees: 08:00-21:00 their time = 11:00-24:00 America/New_York, so never called)"
    ]
    assert report.to_dict()["warnings"] == report.warnings
