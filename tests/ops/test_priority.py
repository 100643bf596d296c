"""A campaign's priority: checked, stored and audited in one transaction."""

from __future__ import annotations

import pytest

from campaign_engine.db.models import Campaign
from campaign_engine.journal import audit
from campaign_engine.ops.priority import checked_priority, set_priority
from campaign_engine.runtime import Runtime
from tests.ops import seed


def test_a_priority_is_a_whole_number_from_one_to_a_thousand() -> None:
    assert checked_priority(" 7 ") == 7
    for wrong, message in (("0", "from 1 to 1000, got 0"), ("1001", "got 1001"), ("x", "whole")):
        with pytest.raises(ValueError, match=message):
            checked_priority(wrong)


async def test_setting_a_priority_stores_it_and_audits_before_and_after(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
    async with runtime.sessions() as session, session.begin():
        assert await set_priority(session, cid, "3", actor="lead") == (1, 3)

    async with runtime.sessions() as session:
        campaign = await session.get(Campaign, cid)
        assert campaign is not None and campaign.priority == 3
        [entry] = await audit.entries(session)
    assert (entry.actor, entry.action, entry.target_id, entry.details) == (
        "lead", "priority", cid, {"from": 1, "to": 3},
    )  # fmt: skip


async def test_an_unknown_campaign_is_refused_and_nothing_is_audited(runtime: Runtime) -> None:
    with pytest.raises(LookupError, match="campaign nope not found"):
        async with runtime.sessions() as session, session.begin():
            await set_priority(session, "nope", 2, actor="lead")
    async with runtime.sessions() as session:
        assert await audit.entries(session) == []
