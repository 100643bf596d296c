"""``campaign show``: status plus region, limits, schedule, full retry policy and history."""

from __future__ import annotations

import pytest

from campaign_engine.campaigns import service
from campaign_engine.campaigns.overview import campaign_overview
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Campaign
from campaign_engine.runtime import Runtime
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
