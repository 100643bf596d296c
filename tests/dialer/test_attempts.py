"""Hand-backs and closures of queued contacts (dialer/attempts.py); the claim itself is
tested in test_claim.py."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.dialer import attempts
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.runtime import Runtime
from campaign_engine.states import ContactState
from tests.dialer.support import contacts_of, queued_targets


async def test_hand_back_returns_only_queued_contacts_to_waiting_with_their_reason(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued_targets(runtime, 3)
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
    campaign_id, targets = await queued_targets(runtime, 1)
    async with runtime.sessions() as session, session.begin():
        assert await attempts.hand_back(session, targets, parked=True, reason="no time") == 1
        assert await attempts.hand_back(session, [], reason="nothing") == 0

    (contact,) = await contacts_of(runtime, campaign_id)
    assert (contact.state, contact.next_attempt_at) == ("pending", None)


async def test_close_unattempted_closes_only_queued_contacts_with_the_state_and_reason(
    runtime: Runtime,
) -> None:
    campaign_id, targets = await queued_targets(runtime, 2)
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
