"""Claiming attempts: one winner per contact, an attempt row per claim; handing contacts
back and closing them without a call."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from campaign_engine.campaigns.lifecycle import transition
from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.dialer import attempts
from campaign_engine.dialer.targets import DialTarget, load_targets
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState, ContactState
from tests.dialer.support import NUMBERS, attempts_of, contacts_of, running_campaign

MARGIN = 120


async def queued(runtime: Runtime, count: int) -> tuple[str, list[DialTarget]]:
    """A running campaign whose ``count`` contacts are queued; their dial targets."""
    campaign_id = await running_campaign(runtime, NUMBERS[:count])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.campaign_id == campaign_id)
            .values(state=ContactState.QUEUED.value, queued_at=utcnow())
        )
    ids = [contact.id for contact in await contacts_of(runtime, campaign_id)]
    async with runtime.sessions() as session:
        return campaign_id, await load_targets(session, ids)


async def claim(runtime: Runtime, targets: list[DialTarget]) -> dict[int, int]:
    async with runtime.sessions() as session, session.begin():
        return await attempts.claim(session, targets, margin_seconds=MARGIN)


async def test_a_claim_moves_each_queued_contact_to_dialing_with_one_attempt_row(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued(runtime, 3)
    before = utcnow()

    won = await claim(runtime, targets)

    contacts = await contacts_of(runtime, campaign_id)
    assert set(won) == {contact.id for contact in contacts}
    assert [(c.state, c.attempts_count, c.queued_at) for c in contacts] == [
        ("dialing", 1, None)
    ] * 3
    rows = await attempts_of(runtime, campaign_id)
    assert {row.id: row.contact_id for row in rows} == {a: c for c, a in won.items()}
    for row, contact in zip(rows, contacts, strict=True):
        assert (row.attempt_number, row.state, row.to_number) == (1, "dialing", contact.phone_e164)
        assert row.claimed_at >= before - timedelta(seconds=1)
        assert row.deadline_at - row.claimed_at == timedelta(
            seconds=targets[0].max_call_seconds + MARGIN
        )


async def test_two_claims_racing_for_the_same_contacts_have_one_winner_per_contact(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued(runtime, 4)

    first, second = await asyncio.gather(claim(runtime, targets), claim(runtime, targets))

    assert not set(first) & set(second)
    assert set(first) | set(second) == {target.contact_id for target in targets}
    rows = await attempts_of(runtime, campaign_id)
    assert sorted(row.contact_id for row in rows) == sorted(t.contact_id for t in targets)


async def test_a_target_read_before_its_count_moved_on_loses_its_claim(runtime: Runtime) -> None:
    campaign_id, targets = await queued(runtime, 2)
    assert len(await claim(runtime, targets[:1])) == 1
    # The contact is queued again for its second attempt; the old target still says 0.
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.id == targets[0].contact_id)
            .values(state=ContactState.QUEUED.value)
        )

    won = await claim(runtime, targets)

    assert list(won) == [targets[1].contact_id]
    assert len(await attempts_of(runtime, campaign_id)) == 2


async def test_a_claim_in_a_campaign_that_stopped_running_hands_every_target_back(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued(runtime, 2)
    async with runtime.sessions() as session, session.begin():
        await transition(session, campaign_id, CampaignState.PAUSED, actor="tester", reason=None)

    assert await claim(runtime, targets) == {}

    contacts = await contacts_of(runtime, campaign_id)
    assert [(c.state, c.last_error) for c in contacts] == [("pending", "campaign paused")] * 2
    assert await attempts_of(runtime, campaign_id) == []


async def test_one_claim_refuses_the_contacts_of_two_campaigns(runtime: Runtime) -> None:
    _, one = await queued(runtime, 1)
    _, other = await queued(runtime, 1)
    async with runtime.sessions() as session:
        with pytest.raises(ValueError, match="one campaign"):
            await attempts.claim(session, one + other, margin_seconds=MARGIN)
        assert await attempts.claim(session, [], margin_seconds=MARGIN) == {}


async def test_hand_back_returns_only_queued_contacts_to_waiting_with_their_reason(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued(runtime, 3)
    due = utcnow().replace(microsecond=0) + timedelta(hours=1)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.id == targets[1].contact_id).values(attempts_count=1)
        )
        await session.execute(
            update(Contact)
            .where(Contact.id == targets[2].contact_id)
            .values(state=ContactState.CALLING.value)
        )
    async with runtime.sessions() as session, session.begin():
        moved = await attempts.hand_back(
            session, targets, due_at=due, reason="no free slot", kind=FailureKind.RATE_LIMITED
        )

    assert moved == 2
    contacts = await contacts_of(runtime, campaign_id)
    assert [(c.state, c.last_error, c.last_failure_kind) for c in contacts] == [
        ("pending", "no free slot", "rate_limited"),
        ("retrying", "no free slot", "rate_limited"),
        ("calling", None, None),
    ]
    assert [c.next_attempt_at for c in contacts[:2]] == [due, due]
    assert all(c.queued_at is None for c in contacts[:2])


async def test_hand_back_parks_contacts_with_no_time_left_without_a_due_time(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued(runtime, 1)
    async with runtime.sessions() as session, session.begin():
        assert await attempts.hand_back(session, targets, parked=True, reason="no time") == 1
        assert await attempts.hand_back(session, [], reason="nothing") == 0

    (contact,) = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.next_attempt_at) == ("pending", None)


async def test_close_unattempted_closes_only_queued_contacts_with_the_state_and_reason(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued(runtime, 2)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact)
            .where(Contact.id == targets[1].contact_id)
            .values(state=ContactState.DIALING.value)
        )
    async with runtime.sessions() as session, session.begin():
        closed = await attempts.close_unattempted(
            session, targets, ContactState.SUPPRESSED, "on the do-not-call list"
        )

    assert closed == 1
    contacts = await contacts_of(runtime, campaign_id)
    assert [(c.state, c.last_error) for c in contacts] == [
        ("suppressed", "on the do-not-call list"),
        ("dialing", None),
    ]
    async with runtime.sessions() as session:
        assert (await session.scalars(select(CallAttempt))).all() == []
