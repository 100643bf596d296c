"""``campaign show``: status plus region, limits, schedule, full retry policy and history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaign_engine import clock
from campaign_engine.campaigns import service
from campaign_engine.campaigns.overview import campaign_overview
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.config import LimitSettings
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Campaign, ContactSource
from campaign_engine.runtime import Runtime
from tests.campaigns.support import (
    KOLKATA,
    MONDAY,
    WEEKDAYS_10_TO_13,
    add_attempt,
    campaign_with,
    set_contact,
    utc,
)
from tests.harness import AGENT_ID
from tests.ops import seed


async def test_a_draft_without_schedule_shows_defaults_and_no_history(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="Draft", agent_id=AGENT_ID, default_region="in"
        )
    async with runtime.sessions() as session:
        shown = await campaign_overview(session, campaign.id)

    assert (shown["id"], shown["name"], shown["state"]) == (campaign.id, "Draft", "draft")
    assert shown["default_region"] == "IN"
    assert shown["limits"] == {
        "max_concurrent": None,
        "calls_per_minute": None,
        "max_call_seconds": 600,
    }
    assert shown["schedule"] is None
    assert shown["retry_policy"] == RetryPolicy().model_dump(mode="json")
    assert shown["events"] == []
    assert shown["contacts"] == {"total": 0, "final": 0, "by_state": {}}


async def test_limits_schedule_and_policy_are_shown_as_stored(runtime: Runtime) -> None:
    policy = RetryPolicy(max_attempts=5)
    schedule = parse_schedule(
        {"preset": "us_tcpa", "windows": ["07:00-10:00"], "days": ["mon", "fri"]}
    )
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session,
            name="Limited",
            agent_id=AGENT_ID,
            max_concurrent=4,
            calls_per_minute=30,
            retry_policy=policy,
            schedule=schedule,
        )
    async with runtime.sessions() as session:
        shown = await campaign_overview(session, campaign.id)

    assert shown["limits"] == {"max_concurrent": 4, "calls_per_minute": 30, "max_call_seconds": 600}
    assert shown["schedule"]["windows"] == ["08:00-10:00"]  # clipped to TCPA when parsed
    assert shown["schedule"]["days"] == ["mon", "fri"]
    assert shown["schedule"]["preset"] == "us_tcpa"
    assert shown["retry_policy"]["max_attempts"] == 5
    assert shown["retry_policy"] == policy.model_dump(mode="json")


async def test_an_empty_stored_policy_is_shown_with_every_default_filled_in(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(session, name="Old", agent_id=AGENT_ID)
        stored = await session.get(Campaign, campaign.id)
        assert stored is not None
        stored.retry_policy = {}
    async with runtime.sessions() as session:
        shown = await campaign_overview(session, campaign.id)
    assert shown["retry_policy"] == RetryPolicy().model_dump(mode="json")
    assert shown["retry_policy"]["max_attempts"] == RetryPolicy().max_attempts


async def test_history_lists_every_state_change_oldest_first_with_actor_and_reason(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session)
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(
            session, campaign_id, keys=runtime.keys, actor="asha", reason="carrier outage"
        )
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.cancel(session, campaign_id, keys=runtime.keys, actor="ravi")
    async with runtime.sessions() as session:
        shown = await campaign_overview(session, campaign_id)

    moves = [(e["from"], e["to"], e["actor"], e["reason"]) for e in shown["events"]]
    assert moves[0] == ("draft", "running", "operator", "started")
    assert moves[1] == ("running", "paused", "asha", "carrier outage")
    assert moves[2][:3] == ("paused", "canceled", "ravi")
    assert len(moves) == 3
    assert all(isinstance(e["at"], str) and "T" in e["at"] for e in shown["events"])
    assert shown["state"] == "canceled"


async def test_the_overview_includes_the_status_counts(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session)  # one pending contact
        done = await seed.contact(session, campaign_id, "+919800000001", state="completed")
        await seed.attempt(session, done, state="ended", outcome="completed")
    async with runtime.sessions() as session:
        shown = await campaign_overview(session, campaign_id)
    assert shown["contacts"]["total"] == 2
    assert shown["contacts"]["final"] == 1
    assert shown["attempts"]["by_outcome"] == {"completed": 1}


async def test_an_unknown_campaign_is_refused(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(service.CampaignError, match="campaign missing not found"):
            await campaign_overview(session, "missing")


async def test_progress_is_shown_per_local_day_of_the_home_zone_and_in_total(
    runtime: Runtime,
) -> None:
    """Issue 15: a recurring campaign's progress per day (contacts added, called, final)."""
    schedule = {**WEEKDAYS_10_TO_13, "timezone": "Asia/Calcutta"}
    monday_ist = MONDAY + timedelta(hours=5)  # 10:30 IST
    with clock.use(clock.FrozenClock(monday_ist)):
        campaign_id = await campaign_with(
            runtime, [("+919800000001", KOLKATA), ("+919800000002", KOLKATA)], schedule
        )
        first = await set_contact(runtime, campaign_id, "+919800000001", state="completed")
        await add_attempt(runtime, campaign_id, first, "+919800000001", monday_ist)
    tuesday_ist = monday_ist + timedelta(days=1)
    with clock.use(clock.FrozenClock(tuesday_ist)):
        async with runtime.sessions() as session, session.begin():
            session.add(ContactSource(campaign_id=campaign_id, source_url="sqlite://", query="x"))
        second = await set_contact(runtime, campaign_id, "+919800000002", state="exhausted")
        await add_attempt(runtime, campaign_id, second, "+919800000002", tuesday_ist)
        await add_attempt(
            runtime, campaign_id, second, "+919800000002", tuesday_ist, state="not_sent"
        )
    async with runtime.sessions() as session:
        shown = await campaign_overview(session, campaign_id)

    assert shown["recurring"] is True
    assert shown["daily"] == {
        "zone": "Asia/Calcutta",
        "days": [
            {"date": "2030-06-03", "added": 2, "called": 1, "final": 1},
            {"date": "2030-06-04", "added": 0, "called": 1, "final": 1},
        ],
        "total": {"added": 2, "called": 2, "final": 2},
    }
    assert shown["contacts"]["total"] == 2  # the existing keys stay


async def test_the_estimate_is_shown_with_what_binds_it_when_limits_are_given(
    runtime: Runtime,
) -> None:
    campaign_id = await campaign_with(runtime, [("+919800000001", KOLKATA)], WEEKDAYS_10_TO_13)
    limits = LimitSettings.model_validate({"vocobase": {"calls_per_minute": 60}})
    async with runtime.sessions() as session:
        plain = await campaign_overview(session, campaign_id)
        shown = await campaign_overview(
            session, campaign_id, limits=limits, now=MONDAY, partner_concurrency=5
        )

    assert (plain["estimate"], plain["recurring"]) == (None, False)
    # The window opens at 10:00 IST (04:30 UTC); one call of up to 10 minutes.
    assert shown["estimate"]["finish"] == utc(2030, 6, 3, 4, 40).isoformat()
    assert shown["estimate"]["binding"] == "windows"
    assert "Asia/Calcutta contacts start at 10:00 their time" in shown["estimate"]["description"]
