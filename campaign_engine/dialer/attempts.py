"""Database writes around one start request: claim it, then record what the request did.

Each write is a conditional UPDATE that names the state it expects, so two workers, a
duplicated job or a webhook racing the start response can never both win: the loser's
update matches no row and it steps aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.states import (
    AttemptState,
    CampaignState,
    ContactState,
)
from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow


@dataclass(frozen=True)
class DialTarget:
    """What a dial job needs to know, read once before anything is taken."""

    contact_id: int
    campaign_id: str
    phone: str
    variables: dict[str, Any]
    contact_state: str
    attempts_count: int
    campaign_state: str
    agent_id: str
    provider: str
    connection_id: str | None
    agent_variables: list[str] | None
    max_call_seconds: int
    max_concurrent: int | None
    calls_per_minute: int | None

    @property
    def next_attempt_number(self) -> int:
        return self.attempts_count + 1

    @property
    def lease(self) -> str:
        """The concurrency lease of this contact's next attempt (one per attempt number)."""
        return f"{self.contact_id}:{self.next_attempt_number}"


async def load_target(session: AsyncSession, contact_id: int) -> DialTarget | None:
    row = (
        await session.execute(
            select(Contact, Campaign)
            .join(Campaign, Campaign.id == Contact.campaign_id)
            .where(Contact.id == contact_id)
        )
    ).first()
    if row is None:
        return None
    contact, campaign = row
    return DialTarget(
        contact_id=contact.id,
        campaign_id=campaign.id,
        phone=contact.phone_e164,
        variables=dict(contact.variables or {}),
        contact_state=contact.state,
        attempts_count=contact.attempts_count,
        campaign_state=campaign.state,
        agent_id=campaign.agent_id,
        provider=campaign.provider,
        connection_id=campaign.connection_id,
        agent_variables=campaign.agent_variables,
        max_call_seconds=campaign.max_call_seconds,
        max_concurrent=campaign.max_concurrent,
        calls_per_minute=campaign.calls_per_minute,
    )


def waiting_state(attempts_count: int) -> str:
    """The state a contact waits in: ``pending`` before its first call, then ``retrying``."""
    return (ContactState.RETRYING if attempts_count else ContactState.PENDING).value


async def hand_back(
    session: AsyncSession,
    target: DialTarget,
    *,
    delay_seconds: float = 0,
    due_at: datetime | None = None,
    reason: str | None,
) -> bool:
    """Return a queued contact to waiting without an attempt (campaign paused, no slot,
    outside its window): due again at ``due_at``, or after ``delay_seconds``."""
    result = await session.execute(
        update(Contact)
        .where(Contact.id == target.contact_id, Contact.state == ContactState.QUEUED.value)
        .values(
            state=waiting_state(target.attempts_count),
            queued_at=None,
            next_attempt_at=due_at or utcnow() + timedelta(seconds=delay_seconds),
            last_error=reason,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def close_unattempted(
    session: AsyncSession, target: DialTarget, state: ContactState, reason: str
) -> bool:
    """Close a queued contact without dialing it (e.g. suppressed after its upload)."""
    result = await session.execute(
        update(Contact)
        .where(Contact.id == target.contact_id, Contact.state == ContactState.QUEUED.value)
        .values(state=state.value, queued_at=None, next_attempt_at=None, last_error=reason)
    )
    return bool(getattr(result, "rowcount", 0))


async def claim(session: AsyncSession, target: DialTarget, *, margin_seconds: float) -> int | None:
    """Claim the contact's next attempt; the attempt id, or None when someone else has it
    or the campaign stopped running meanwhile (the contact is then handed back).

    Must be committed before the start request is sent: after a crash, the row is what
    tells the reconciler that a call may have been placed. Two statements in the common
    case: the guarded UPDATE (contact still queued, same count, campaign running) and the
    INSERT of the attempt.
    """
    running = (
        select(Campaign.id)
        .where(Campaign.id == target.campaign_id, Campaign.state == CampaignState.RUNNING.value)
        .exists()
    )
    result = await session.execute(
        update(Contact)
        .where(
            Contact.id == target.contact_id,
            Contact.state == ContactState.QUEUED.value,
            Contact.attempts_count == target.attempts_count,
            running,
        )
        .values(
            state=ContactState.DIALING.value,
            attempts_count=Contact.attempts_count + 1,
            queued_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        campaign_state = await session.scalar(
            select(Campaign.state).where(Campaign.id == target.campaign_id)
        )
        if campaign_state != CampaignState.RUNNING.value:
            await hand_back(session, target, delay_seconds=0, reason=f"campaign {campaign_state}")
        return None
    now = utcnow()
    attempt_id = await session.scalar(
        insert(CallAttempt)
        .values(
            contact_id=target.contact_id,
            campaign_id=target.campaign_id,
            attempt_number=target.next_attempt_number,
            state=AttemptState.DIALING.value,
            provider=target.provider,
            to_number=target.phone,
            claimed_at=now,
            deadline_at=now + timedelta(seconds=target.max_call_seconds + margin_seconds),
            updated_at=now,
        )
        .returning(CallAttempt.id)
    )
    return attempt_id


async def mark_started(
    session: AsyncSession, attempt_id: int, *, call_id: str, session_id: str | None
) -> None:
    """Store the ids Vocobase gave; the contact is now in a call.

    If a fast webhook already ended the attempt, only the ids are filled in: the outcome
    it recorded stands.
    """
    now = utcnow()
    contact_id = await session.scalar(
        update(CallAttempt)
        .where(
            CallAttempt.id == attempt_id,
            CallAttempt.state.in_([AttemptState.DIALING.value, AttemptState.UNKNOWN.value]),
        )
        .values(
            state=AttemptState.STARTED.value,
            call_id=call_id,
            session_id=session_id,
            started_at=now,
            updated_at=now,
        )
        .returning(CallAttempt.contact_id)
        .execution_options(synchronize_session=False)
    )
    if contact_id is not None:
        await session.execute(
            update(Contact)
            .where(Contact.id == contact_id, Contact.state == ContactState.DIALING.value)
            .values(state=ContactState.CALLING.value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    await session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.call_id.is_(None))
        .values(call_id=call_id, session_id=session_id, started_at=now)
        .execution_options(synchronize_session=False)
    )


async def mark_not_sent(
    session: AsyncSession, attempt_id: int, *, error: str, delay_seconds: float
) -> None:
    """The request certainly never reached Vocobase: the attempt costs the contact nothing."""
    attempt = await session.get(CallAttempt, attempt_id)
    assert attempt is not None
    moved = await session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.state == AttemptState.DIALING.value)
        .values(state=AttemptState.NOT_SENT.value, error=error, ended_at=utcnow())
    )
    if not getattr(moved, "rowcount", 0):
        return
    await give_attempt_back(session, attempt.contact_id, error=error, delay_seconds=delay_seconds)


async def give_attempt_back(
    session: AsyncSession, contact_id: int, *, error: str, delay_seconds: float
) -> None:
    """Undo a claim's count and let the contact wait for a fresh attempt."""
    contact = await session.get(Contact, contact_id, with_for_update=True)
    assert contact is not None
    remaining = contact.attempts_count - 1
    await session.execute(
        update(Contact)
        .where(
            Contact.id == contact_id,
            Contact.state.in_([ContactState.DIALING.value, ContactState.CALLING.value]),
        )
        .values(
            state=waiting_state(remaining),
            attempts_count=remaining,
            next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
            last_error=error,
        )
    )


async def mark_unknown(session: AsyncSession, attempt_id: int, *, error: str) -> None:
    """The request may have placed a call: never redial blindly, let the reconciler look."""
    await session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.state == AttemptState.DIALING.value)
        .values(state=AttemptState.UNKNOWN.value, error=error)
    )
