"""Pause, resume, cancel, the circuit breaker and completion: each move, what it closes, and
its audit entry (written in the move's own transaction, with who made it)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from campaign_engine.campaigns import lifecycle, service
from campaign_engine.campaigns.lifecycle import TransitionError, transition
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.contacts.store import insert_batch
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import AuditEntry, CampaignEvent, Contact, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState, ContactState
from tests.dialer.support import (
    NUMBERS,
    campaign_of,
    contacts_of,
    events_of,
    rows,
    running_campaign,
)
from tests.harness import AGENT_ID


async def draft(runtime: Runtime) -> str:
    """A campaign with one contact that was never started."""
    async with runtime.sessions() as session, session.begin():
        campaign = await service.create_campaign(session, name="test", agent_id=AGENT_ID)
        await insert_batch(session, campaign.id, rows(NUMBERS[:1]), due_at=utcnow())
    return campaign.id


async def audit_of(runtime: Runtime, campaign_id: str) -> list[tuple[str, str, dict[str, object]]]:
    """(action, actor, details) of the campaign's audit entries, oldest first."""
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == "campaign", AuditEntry.target_id == campaign_id)
            .order_by(AuditEntry.id)
        )
        return [(row.action, row.actor, row.details) for row in found.all()]


async def test_pause_and_resume_are_recorded_as_operator_moves(sqlite_runtime: Runtime) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    async with sqlite_runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, campaign_id, keys=sqlite_runtime.keys, actor="bob")
    async with sqlite_runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="operator")
    moves = [(e.to_state, e.actor, e.reason) for e in await events_of(sqlite_runtime, campaign_id)]
    assert moves[1:] == [("paused", "bob", "paused"), ("running", "operator", "resumed")]


async def test_resume_refuses_a_draft_that_never_ran(sqlite_runtime: Runtime) -> None:
    campaign_id = await draft(sqlite_runtime)
    async with sqlite_runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="never run"):
            await campaign_moves.resume(session, campaign_id, actor="tester")
    assert (await campaign_of(sqlite_runtime, campaign_id)).state == "draft"


async def test_cancel_cancels_the_campaign_and_contacts_not_final_nor_in_a_call(
    sqlite_runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:3])
    async with sqlite_runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.phone_e164 == NUMBERS[0]).values(state="calling")
        )
    async with sqlite_runtime.sessions() as session, session.begin():
        assert (
            await campaign_moves.cancel(
                session, campaign_id, keys=sqlite_runtime.keys, actor="tester"
            )
        ).contacts_closed == 2
    assert (await campaign_of(sqlite_runtime, campaign_id)).state == "canceled"
    assert [c.state for c in await contacts_of(sqlite_runtime, campaign_id)] == [
        "calling",
        "canceled",
        "canceled",
    ]


async def test_cancel_open_contacts_spares_contacts_in_a_call_and_final_ones(
    sqlite_runtime: Runtime,
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
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[: len(states)])
    async with sqlite_runtime.sessions() as session, session.begin():
        for number, state in zip(NUMBERS, states, strict=False):
            await session.execute(
                update(Contact).where(Contact.phone_e164 == number).values(state=state.value)
            )
    async with sqlite_runtime.sessions() as session, session.begin():
        assert (
            await campaign_moves.close_open_contacts(session, campaign_id, "campaign canceled") == 3
        )
    after = [c.state for c in await contacts_of(sqlite_runtime, campaign_id)]
    assert after == ["canceled"] * 3 + [s.value for s in states[3:]]
    async with sqlite_runtime.sessions() as session:
        assert await lifecycle.open_contacts(session, campaign_id) == 2


async def test_the_circuit_breaker_pauses_a_running_campaign_with_the_error(
    sqlite_runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    async with sqlite_runtime.sessions() as session, session.begin():
        await campaign_moves.pause_for_error(session, campaign_id, "HTTP 401: bad key")
    campaign = await campaign_of(sqlite_runtime, campaign_id)
    assert (campaign.state, campaign.state_reason) == ("paused", "HTTP 401: bad key")
    last = (await events_of(sqlite_runtime, campaign_id))[-1]
    assert (last.actor, last.reason) == (lifecycle.CIRCUIT_BREAKER, "HTTP 401: bad key")


async def test_the_circuit_breaker_leaves_a_campaign_that_is_not_running_alone(
    sqlite_runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    async with sqlite_runtime.sessions() as session, session.begin():
        await transition(
            session, campaign_id, CampaignState.PAUSED, actor="operator", reason="operator pause"
        )
    async with sqlite_runtime.sessions() as session, session.begin():
        await campaign_moves.pause_for_error(session, campaign_id, "HTTP 403")
        await campaign_moves.pause_for_error(session, "no-such-campaign", "HTTP 403")
    assert (await campaign_of(sqlite_runtime, campaign_id)).state_reason == "operator pause"
    async with sqlite_runtime.sessions() as session:
        actors = (await session.scalars(select(CampaignEvent.actor))).all()
    assert lifecycle.CIRCUIT_BREAKER not in actors


async def test_pause_resume_and_cancel_each_write_one_audit_entry_with_their_actor(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:2])
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(
            session, campaign_id, keys=runtime.keys, actor="asha", reason="list check"
        )
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="ravi")
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.cancel(
            session, campaign_id, keys=runtime.keys, actor="meena", reason="wrong list"
        )

    assert await audit_of(runtime, campaign_id) == [
        ("pause", "asha", {"reason": "list check", "contacts_withdrawn": 0}),
        ("resume", "ravi", {"reason": None, "contacts_withdrawn": 0}),
        ("cancel", "meena", {"reason": "wrong list", "contacts_withdrawn": 0}),
    ]


async def test_pausing_counts_the_queued_contacts_it_withdraws_in_its_audit_entry(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:3])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.phone_e164.in_(NUMBERS[:2]))
            .values(state=ContactState.QUEUED.value, queued_at=utcnow())
        )
    async with runtime.sessions() as session, session.begin():
        moved = await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="asha")

    assert len(moved.jobs) == 2
    [(_, _, details)] = await audit_of(runtime, campaign_id)
    assert details == {"reason": None, "contacts_withdrawn": 2}
    assert {c.state for c in await contacts_of(runtime, campaign_id)} == {"pending"}


async def test_a_refused_move_writes_no_audit_entry(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.cancel(session, campaign_id, keys=runtime.keys, actor="asha")

    with pytest.raises(TransitionError):
        async with runtime.sessions() as session, session.begin():
            await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="ravi")

    assert [actor for _, actor, _ in await audit_of(runtime, campaign_id)] == ["asha"]


async def test_the_circuit_breakers_pause_is_audited_as_the_circuit_breaker(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        assert await campaign_moves.pause_for_error(session, campaign_id, "HTTP 401: bad key")
    async with runtime.sessions() as session, session.begin():
        assert not await campaign_moves.pause_for_error(session, campaign_id, "HTTP 401 again")

    assert await audit_of(runtime, campaign_id) == [
        (
            "pause",
            lifecycle.CIRCUIT_BREAKER,
            {"reason": "HTTP 401: bad key", "contacts_withdrawn": 0},
        )
    ]


async def test_control_does_the_named_action_and_refuses_an_unknown_one(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        moved = await campaign_moves.control(
            session, runtime.keys, campaign_id, "pause", actor="asha"
        )
    assert moved.state is CampaignState.PAUSED

    async with runtime.sessions() as session, session.begin():
        with pytest.raises(ValueError, match="unknown campaign action 'stop'"):
            await campaign_moves.control(session, runtime.keys, campaign_id, "stop", actor="asha")
    assert (await campaign_of(runtime, campaign_id)).state == "paused"


async def test_complete_finished_completes_running_campaigns_with_nothing_left_to_call(
    runtime: Runtime,
) -> None:
    done = await running_campaign(runtime, NUMBERS[:2])
    parked = await running_campaign(runtime, NUMBERS[2:4])
    busy = await running_campaign(runtime, NUMBERS[4:6])
    paused = await running_campaign(runtime, NUMBERS[6:7])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id.in_([done, paused]))
            .values(state=ContactState.COMPLETED.value, next_attempt_at=None)
        )
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id.in_([parked, busy]), Contact.phone_e164 == NUMBERS[2])
            .values(state=ContactState.EXHAUSTED.value, next_attempt_at=None)
        )
        # No allowed calling time left: pending without a time (parked).
        await session.execute(
            update(Contact).where(Contact.phone_e164 == NUMBERS[3]).values(next_attempt_at=None)
        )
        await transition(session, paused, CampaignState.PAUSED, actor="asha", reason=None)

    async with runtime.sessions() as session, session.begin():
        completed = await campaign_moves.complete_finished(session)

    assert sorted(completed) == sorted([done, parked])
    states = {cid: (await campaign_of(runtime, cid)).state for cid in (done, parked, busy, paused)}
    assert states == {done: "completed", parked: "completed", busy: "running", paused: "paused"}
    by_number = {c.phone_e164: c for c in await contacts_of(runtime, parked)}
    assert (by_number[NUMBERS[3]].state, by_number[NUMBERS[3]].last_error) == (
        "canceled",
        lifecycle.PARKED_REASON,
    )
    assert by_number[NUMBERS[2]].state == "exhausted"
    last = (await events_of(runtime, done))[-1]
    assert (last.to_state, last.actor, last.reason) == (
        "completed",
        lifecycle.SCHEDULER,
        "all contacts final",
    )
