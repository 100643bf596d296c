"""Campaign state changes on a real database, each recorded with its actor and reason."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from campaign_engine.campaigns import lifecycle
from campaign_engine.campaigns.lifecycle import TransitionError, transition
from campaign_engine.db.models import Contact, ContactSource
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState, ContactState
from tests.dialer.support import (
    NUMBERS,
    campaign_of,
    events_of,
    running_campaign,
)

S = CampaignState


async def move(
    runtime: Runtime,
    campaign_id: str,
    target: CampaignState,
    *,
    actor: str = "operator",
    reason: str | None = None,
) -> None:
    async with runtime.sessions() as session, session.begin():
        await transition(session, campaign_id, target, actor=actor, reason=reason)


async def test_every_move_records_who_why_and_from_where(sqlite_runtime: Runtime) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    await move(sqlite_runtime, campaign_id, S.PAUSED, actor="alice", reason="lunch")

    campaign = await campaign_of(sqlite_runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("paused", "lunch")
    started, paused = await events_of(sqlite_runtime, campaign_id)
    assert (started.from_state, started.to_state, started.reason) == ("draft", "running", "started")
    assert (paused.from_state, paused.to_state) == ("running", "paused")
    assert (paused.actor, paused.reason) == ("alice", "lunch")


async def test_started_at_is_set_by_the_first_start_only(sqlite_runtime: Runtime) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    first = (await campaign_of(sqlite_runtime, campaign_id)).started_at
    assert first is not None
    await move(sqlite_runtime, campaign_id, S.PAUSED)
    await move(sqlite_runtime, campaign_id, S.RUNNING)
    campaign = await campaign_of(sqlite_runtime, campaign_id)
    assert campaign.started_at == first
    assert campaign.finished_at is None


@pytest.mark.parametrize("end", [S.COMPLETED, S.CANCELED])
async def test_ending_a_campaign_sets_finished_at(
    sqlite_runtime: Runtime, end: CampaignState
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    await move(sqlite_runtime, campaign_id, end)
    campaign = await campaign_of(sqlite_runtime, campaign_id)
    assert campaign.state == end
    assert campaign.finished_at is not None


async def test_a_refused_move_raises_and_changes_and_records_nothing(
    sqlite_runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    await move(sqlite_runtime, campaign_id, S.COMPLETED)
    with pytest.raises(TransitionError, match="completed; cannot go running"):
        await move(sqlite_runtime, campaign_id, S.RUNNING)
    assert (await campaign_of(sqlite_runtime, campaign_id)).state == "completed"
    assert len(await events_of(sqlite_runtime, campaign_id)) == 2


async def test_moving_to_the_current_state_is_a_no_op(sqlite_runtime: Runtime) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    await move(sqlite_runtime, campaign_id, S.RUNNING, reason="again")
    assert len(await events_of(sqlite_runtime, campaign_id)) == 1
    assert (await campaign_of(sqlite_runtime, campaign_id)).state_reason == "started"


async def test_moving_a_missing_campaign_raises_lookup_error(sqlite_runtime: Runtime) -> None:
    with pytest.raises(LookupError):
        await move(sqlite_runtime, "no-such-campaign", S.PAUSED)


@pytest.mark.parametrize(
    ("state", "next_attempt_at", "is_open"),
    [
        (ContactState.PENDING, "now", True),
        (ContactState.RETRYING, "now", True),
        (ContactState.PENDING, None, False),  # parked: no allowed time left
        (ContactState.QUEUED, None, True),
        (ContactState.DIALING, None, True),
        (ContactState.CALLING, None, True),
        (ContactState.EXHAUSTED, None, False),
    ],
)
async def test_a_campaign_is_open_while_a_contact_is_active_or_waiting_with_a_time(
    sqlite_runtime: Runtime, state: ContactState, next_attempt_at: str | None, is_open: bool
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    if next_attempt_at is None:
        async with sqlite_runtime.sessions() as session, session.begin():
            await session.execute(update(Contact).values(state=state.value, next_attempt_at=None))
    else:
        async with sqlite_runtime.sessions() as session, session.begin():
            await session.execute(update(Contact).values(state=state.value))
    async with sqlite_runtime.sessions() as session:
        assert await lifecycle.has_open_contacts(session, campaign_id) is is_open


async def test_restate_changes_the_reason_only_of_a_campaign_still_in_that_state(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    await move(runtime, campaign_id, S.ONGOING, reason="next pull due Monday")

    async with runtime.sessions() as session, session.begin():
        assert await lifecycle.restate(session, campaign_id, S.ONGOING, "next pull due Tuesday")
        assert not await lifecycle.restate(session, campaign_id, S.ONGOING, "next pull due Tuesday")
        # A move made meanwhile keeps its own reason.
        assert not await lifecycle.restate(session, campaign_id, S.RUNNING, "something else")

    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("ongoing", "next pull due Tuesday")
    assert len(await events_of(runtime, campaign_id)) == 2  # started, ongoing: no event


async def test_a_campaign_is_recurring_while_it_has_a_saved_source(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session:
        assert not await lifecycle.is_recurring(session, campaign_id)
    async with runtime.sessions() as session, session.begin():
        session.add(ContactSource(campaign_id=campaign_id, source_url="sqlite://", query="q"))
    async with runtime.sessions() as session:
        assert await lifecycle.is_recurring(session, campaign_id)
