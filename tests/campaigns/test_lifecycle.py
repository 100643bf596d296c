"""Campaign state changes on a real database, each recorded with its actor and reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from campaign_engine.campaigns import lifecycle
from campaign_engine.campaigns.lifecycle import TransitionError, transition
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import CampaignEvent, Contact
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState, ContactState
from tests.dialer.support import (
    NUMBERS,
    campaign_of,
    contacts_of,
    events_of,
    open_runtime,
    running_campaign,
)

S = CampaignState


@pytest.fixture
async def runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    async with open_runtime(sqlite_url, redis_prefix) as opened:
        yield opened


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


async def test_every_move_records_who_why_and_from_where(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    await move(runtime, campaign_id, S.PAUSED, actor="alice", reason="lunch")

    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("paused", "lunch")
    started, paused = await events_of(runtime, campaign_id)
    assert (started.from_state, started.to_state, started.reason) == ("draft", "running", "started")
    assert (paused.from_state, paused.to_state) == ("running", "paused")
    assert (paused.actor, paused.reason) == ("alice", "lunch")


async def test_started_at_is_set_by_the_first_start_only(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    first = (await campaign_of(runtime, campaign_id)).started_at
    assert first is not None
    await move(runtime, campaign_id, S.PAUSED)
    await move(runtime, campaign_id, S.RUNNING)
    campaign = await campaign_of(runtime, campaign_id)
    assert campaign.started_at == first
    assert campaign.finished_at is None


@pytest.mark.parametrize("end", [S.COMPLETED, S.CANCELED])
async def test_ending_a_campaign_sets_finished_at(runtime: Runtime, end: CampaignState) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    await move(runtime, campaign_id, end)
    campaign = await campaign_of(runtime, campaign_id)
    assert campaign.state == end
    assert campaign.finished_at is not None


async def test_a_refused_move_raises_and_changes_and_records_nothing(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    await move(runtime, campaign_id, S.COMPLETED)
    with pytest.raises(TransitionError, match="completed; cannot go running"):
        await move(runtime, campaign_id, S.RUNNING)
    assert (await campaign_of(runtime, campaign_id)).state == "completed"
    assert len(await events_of(runtime, campaign_id)) == 2


async def test_moving_to_the_current_state_is_a_no_op(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    await move(runtime, campaign_id, S.RUNNING, reason="again")
    assert len(await events_of(runtime, campaign_id)) == 1
    assert (await campaign_of(runtime, campaign_id)).state_reason == "started"


async def test_moving_a_missing_campaign_raises_lookup_error(runtime: Runtime) -> None:
    with pytest.raises(LookupError):
        await move(runtime, "no-such-campaign", S.PAUSED)


async def test_the_circuit_breaker_pauses_a_running_campaign_with_the_error(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause_for_error(session, campaign_id, "HTTP 401: bad key")
    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("paused", "HTTP 401: bad key")
    last = (await events_of(runtime, campaign_id))[-1]
    assert (last.actor, last.reason) == (lifecycle.CIRCUIT_BREAKER, "HTTP 401: bad key")


async def test_the_circuit_breaker_leaves_a_campaign_that_is_not_running_alone(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    await move(runtime, campaign_id, S.PAUSED, reason="operator pause")
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause_for_error(session, campaign_id, "HTTP 403")
        await campaign_moves.pause_for_error(session, "no-such-campaign", "HTTP 403")
    assert (await campaign_of(runtime, campaign_id)).state_reason == "operator pause"
    async with runtime.sessions() as session:
        actors = (await session.scalars(select(CampaignEvent.actor))).all()
    assert lifecycle.CIRCUIT_BREAKER not in actors


async def test_cancel_open_contacts_spares_contacts_in_a_call_and_final_ones(
    runtime: Runtime,
) -> None:
    states = [
        ContactState.PENDING,
        ContactState.RETRYING,
        ContactState.QUEUED,
        ContactState.DIALING,
        ContactState.CALLING,
        ContactState.COMPLETED,
        ContactState.EXHAUSTED,
    ]
    campaign_id = await running_campaign(runtime, NUMBERS[: len(states)])
    async with runtime.sessions() as session, session.begin():
        for number, state in zip(NUMBERS, states, strict=False):
            await session.execute(
                update(Contact).where(Contact.phone_e164 == number).values(state=state.value)
            )
    async with runtime.sessions() as session, session.begin():
        assert (
            await campaign_moves.close_open_contacts(session, campaign_id, "campaign canceled") == 3
        )
    after = [c.state for c in await contacts_of(runtime, campaign_id)]
    assert after == ["canceled"] * 3 + [s.value for s in states[3:]]
    async with runtime.sessions() as session:
        assert await lifecycle.open_contacts(session, campaign_id) == 2


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
    runtime: Runtime, state: ContactState, next_attempt_at: str | None, is_open: bool
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    if next_attempt_at is None:
        async with runtime.sessions() as session, session.begin():
            await session.execute(update(Contact).values(state=state.value, next_attempt_at=None))
    else:
        async with runtime.sessions() as session, session.begin():
            await session.execute(update(Contact).values(state=state.value))
    async with runtime.sessions() as session:
        assert await lifecycle.has_open_contacts(session, campaign_id) is is_open
