"""The retry queue and the dead letters: who is waiting for another try, and who was given
up on — as contacts with phone numbers, reasons and times, not as jobs.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.ops.retry_reasons import DEAD_STATES, reason_of, waiting_for_retry
from campaign_engine.states import ATTEMPT_OPEN, AttemptState


class QueuedContact(BaseModel):
    contact_id: int
    campaign_id: str
    phone: str
    state: str
    reason: str
    attempts_count: int
    # The number the next attempt will carry.
    next_attempt_number: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    last_error: str | None


class RetryQueue(BaseModel):
    by_reason: dict[str, int]
    contacts: list[QueuedContact]


class StuckAttempt(BaseModel):
    attempt_id: int
    contact_id: int
    campaign_id: str
    phone: str
    state: str
    claimed_at: datetime
    deadline_at: datetime
    error: str | None


class DeadLetters(BaseModel):
    contacts: list[QueuedContact]
    # Open past their deadline (the reconciler has not settled them yet), or expired.
    attempts: list[StuckAttempt]


def _digits(phone: str) -> str:
    """What a phone search matches: its digits ("+91 98111-11111" finds +919811111111),
    the same for contacts and for stuck attempts."""
    return "".join(ch for ch in phone if ch.isdigit()) or phone


def _filters(campaign_id: str | None, phone: str | None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if campaign_id is not None:
        found.append(Contact.campaign_id == campaign_id)
    if phone:
        found.append(Contact.phone_e164.contains(_digits(phone)))
    return found


async def _contacts(
    session: AsyncSession, conditions: list[ColumnElement[bool]], limit: int, offset: int = 0
) -> list[QueuedContact]:
    reason = reason_of().label("reason")
    rows = await session.execute(
        select(Contact, reason)
        .where(*conditions)
        .order_by(Contact.next_attempt_at, Contact.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        QueuedContact(
            contact_id=contact.id,
            campaign_id=contact.campaign_id,
            phone=contact.phone_e164,
            state=contact.state,
            reason=why,
            attempts_count=contact.attempts_count,
            next_attempt_number=contact.attempts_count + 1,
            next_attempt_at=contact.next_attempt_at,
            last_outcome=contact.last_outcome,
            last_error=contact.last_error,
        )
        for contact, why in rows.all()
    ]


async def retry_queue(
    session: AsyncSession,
    *,
    campaign_id: str | None = None,
    phone: str | None = None,
    reason: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> RetryQueue:
    """Waiting contacts (soonest first) and their counts by reason; filters narrow both."""
    conditions = [waiting_for_retry(), *_filters(campaign_id, phone)]
    why = reason_of()
    if reason is not None:
        conditions.append(why == reason)
    counts = await session.execute(select(why, func.count()).where(*conditions).group_by(why))
    return RetryQueue(
        by_reason={str(name): int(count) for name, count in counts.all()},
        contacts=await _contacts(session, conditions, limit, offset),
    )


async def dead_letters(
    session: AsyncSession,
    *,
    campaign_id: str | None = None,
    phone: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
    offset: int = 0,
) -> DeadLetters:
    now = now or utcnow()
    conditions = [Contact.state.in_(DEAD_STATES), *_filters(campaign_id, phone)]
    stuck = or_(
        CallAttempt.state == AttemptState.EXPIRED.value,
        (CallAttempt.state.in_([s.value for s in ATTEMPT_OPEN])) & (CallAttempt.deadline_at < now),
    )
    query = select(CallAttempt).where(stuck)
    if campaign_id is not None:
        query = query.where(CallAttempt.campaign_id == campaign_id)
    if phone:
        query = query.where(CallAttempt.to_number.contains(_digits(phone)))
    attempts = (await session.scalars(query.order_by(CallAttempt.id.desc()).limit(limit))).all()
    return DeadLetters(
        contacts=await _contacts(session, conditions, limit, offset),
        attempts=[
            StuckAttempt(
                attempt_id=row.id,
                contact_id=row.contact_id,
                campaign_id=row.campaign_id,
                phone=row.to_number,
                state=row.state,
                claimed_at=row.claimed_at,
                deadline_at=row.deadline_at,
                error=row.error,
            )
            for row in attempts
        ],
    )
