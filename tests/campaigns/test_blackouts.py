"""Blackout dates, global and per campaign: added once, listed by date, removed by scope."""

from __future__ import annotations

from datetime import date

import pytest

from campaign_engine.campaigns.blackouts import add_blackout, list_blackouts, remove_blackout
from campaign_engine.campaigns.service import CampaignError, create_campaign
from campaign_engine.campaigns.window_check import blackout_days
from campaign_engine.runtime import Runtime
from tests.harness import AGENT_ID

CHRISTMAS = date(2030, 12, 25)
NEW_YEAR = date(2031, 1, 1)
DIWALI = date(2030, 10, 26)


async def _campaign(runtime: Runtime, name: str = "holidays") -> str:
    async with runtime.sessions() as session, session.begin():
        return (await create_campaign(session, name=name, agent_id=AGENT_ID)).id


async def _days(runtime: Runtime, campaign_id: str | None = None) -> list[tuple[date, str | None]]:
    async with runtime.sessions() as session:
        found = await list_blackouts(session, campaign_id=campaign_id)
        return [(entry.day, entry.campaign_id) for entry in found]


async def test_a_global_blackout_is_stored_with_its_reason(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        entry = await add_blackout(session, CHRISTMAS, reason="Christmas")
    assert entry.id is not None
    assert (entry.day, entry.campaign_id, entry.reason) == (CHRISTMAS, None, "Christmas")
    assert await _days(runtime) == [(CHRISTMAS, None)]


async def test_the_same_global_date_twice_is_refused(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, CHRISTMAS)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="2030-12-25 is already a blackout date for every"):
            await add_blackout(session, CHRISTMAS)


async def test_the_same_date_may_be_global_and_a_campaigns_own(runtime: Runtime) -> None:
    campaign_id = await _campaign(runtime)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, CHRISTMAS)
        await add_blackout(session, CHRISTMAS, campaign_id=campaign_id)
        with pytest.raises(
            CampaignError, match=f"already a blackout date for campaign {campaign_id}"
        ):
            await add_blackout(session, CHRISTMAS, campaign_id=campaign_id)
    assert await _days(runtime, campaign_id) == [(CHRISTMAS, None), (CHRISTMAS, campaign_id)]


async def test_a_blackout_for_an_unknown_campaign_is_refused(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="campaign nope not found"):
            await add_blackout(session, CHRISTMAS, campaign_id="nope")
    assert await _days(runtime) == []


async def test_listing_for_a_campaign_gives_global_and_its_own_dates_in_date_order(
    runtime: Runtime,
) -> None:
    mine, theirs = await _campaign(runtime), await _campaign(runtime, "other")
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, NEW_YEAR)
        await add_blackout(session, CHRISTMAS, campaign_id=mine)
        await add_blackout(session, DIWALI, campaign_id=theirs)
    assert await _days(runtime, mine) == [(CHRISTMAS, mine), (NEW_YEAR, None)]
    assert await _days(runtime, theirs) == [(DIWALI, theirs), (NEW_YEAR, None)]


async def test_listing_without_a_campaign_gives_every_date(runtime: Runtime) -> None:
    mine = await _campaign(runtime)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, NEW_YEAR)
        await add_blackout(session, DIWALI, campaign_id=mine)
    assert await _days(runtime) == [(DIWALI, mine), (NEW_YEAR, None)]


async def test_removing_a_global_date_leaves_a_campaigns_same_date(runtime: Runtime) -> None:
    mine = await _campaign(runtime)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, CHRISTMAS)
        await add_blackout(session, CHRISTMAS, campaign_id=mine)
    async with runtime.sessions() as session, session.begin():
        await remove_blackout(session, CHRISTMAS)
    assert await _days(runtime, mine) == [(CHRISTMAS, mine)]


async def test_removing_a_campaigns_date_leaves_the_global_one(runtime: Runtime) -> None:
    mine = await _campaign(runtime)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, CHRISTMAS)
        await add_blackout(session, CHRISTMAS, campaign_id=mine)
    async with runtime.sessions() as session, session.begin():
        await remove_blackout(session, CHRISTMAS, campaign_id=mine)
    assert await _days(runtime, mine) == [(CHRISTMAS, None)]


async def test_removing_a_date_that_is_not_a_blackout_says_so(runtime: Runtime) -> None:
    mine = await _campaign(runtime)
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, CHRISTMAS, campaign_id=mine)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="2030-12-25 is not a blackout date for every"):
            await remove_blackout(session, CHRISTMAS)
        with pytest.raises(CampaignError, match=f"is not a blackout date for campaign {mine}"):
            await remove_blackout(session, NEW_YEAR, campaign_id=mine)


async def test_a_removed_date_can_be_added_again(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, CHRISTMAS)
        await remove_blackout(session, CHRISTMAS)
        await add_blackout(session, CHRISTMAS, reason="again")
    assert await _days(runtime) == [(CHRISTMAS, None)]


async def test_the_dialers_calendar_sees_global_and_own_dates_only(runtime: Runtime) -> None:
    mine, theirs = await _campaign(runtime), await _campaign(runtime, "other")
    async with runtime.sessions() as session, session.begin():
        await add_blackout(session, NEW_YEAR)
        await add_blackout(session, CHRISTMAS, campaign_id=mine)
        await add_blackout(session, DIWALI, campaign_id=theirs)
    async with runtime.sessions() as session:
        assert await blackout_days(session, mine) == frozenset({NEW_YEAR, CHRISTMAS})
        assert await blackout_days(session, None) == frozenset({NEW_YEAR})
