"""Write outcome notifications into the outbox, inside the outcome's own transaction.

Called once from :func:`campaign_engine.dialer.outcome.record_outcome` (and expiry) right
after the attempt became final and the contact's next step was decided. Because the row is
written in that same transaction, a committed outcome always has its notification and a
rolled-back one never does; and because the forward-only state machine applies an outcome
once, it is emitted once, however many webhooks, polls and processes saw the call.

Only sessions from a factory passed to :func:`enable` emit: with no notification URL
configured, nothing is recorded (the outbox would only grow).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns.retry_policy import Decision
from campaign_engine.db.models import CallAttempt, Contact, Notification, utcnow
from campaign_engine.notifications.payload import (
    ATTEMPT,
    FINAL,
    ContactView,
    attempt_payload,
    final_payload,
)

INFO_KEY = "campaign_engine.notifications"


def enable(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Sessions made by ``sessions`` from now on write notifications with each outcome."""
    sessions.configure(info={INFO_KEY: True})


def is_enabled(session: AsyncSession) -> bool:
    return bool(session.info.get(INFO_KEY))


async def contact_view(session: AsyncSession, contact_id: int) -> ContactView | None:
    """The contact as the database holds it now (columns, never a stale identity-map copy)."""
    row = (
        await session.execute(
            select(
                Contact.id,
                Contact.campaign_id,
                Contact.phone_e164,
                Contact.variables,
                Contact.state,
                Contact.attempts_count,
                Contact.last_outcome,
                Contact.next_attempt_at,
            ).where(Contact.id == contact_id)
        )
    ).first()
    if row is None:
        return None
    return ContactView(
        contact_id=row.id,
        campaign_id=row.campaign_id,
        phone=row.phone_e164,
        variables=dict(row.variables or {}),
        state=row.state,
        attempts_count=row.attempts_count,
        last_outcome=row.last_outcome,
        next_attempt_at=row.next_attempt_at,
    )


async def emit_outcome(session: AsyncSession, attempt: CallAttempt, decision: Decision) -> int:
    """Queue the attempt's notification, and the contact's final one when this attempt
    settled it; how many rows were written."""
    if not is_enabled(session):
        return 0
    contact = await contact_view(session, attempt.contact_id)
    if contact is None:
        return 0
    # Final only when the decision was final *and* it was applied to the contact.
    final = decision.final_state is not None and contact.state == decision.final_state.value
    now = utcnow()
    rows = [
        Notification(
            campaign_id=attempt.campaign_id,
            contact_id=attempt.contact_id,
            attempt_id=attempt.id,
            kind=ATTEMPT,
            payload=attempt_payload(attempt, contact, final=final),
            status="pending",
            tries=0,
            next_try_at=now,
            created_at=now,
        )
    ]
    if final:
        rows.append(
            Notification(
                campaign_id=attempt.campaign_id,
                contact_id=attempt.contact_id,
                attempt_id=attempt.id,
                kind=FINAL,
                payload=final_payload(attempt, contact),
                status="pending",
                tries=0,
                next_try_at=now,
                created_at=now,
            )
        )
    session.add_all(rows)
    await session.flush()
    return len(rows)
