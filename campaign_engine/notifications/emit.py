"""Write outcome notifications into the outbox, inside the outcome's own transaction.

Called from :mod:`campaign_engine.outcomes.record` (for a batch of attempts) right
after the attempts became final and the contact's next step was decided. Because the row is
written in that same transaction, a committed outcome always has its notification and a
rolled-back one never does; and because the forward-only state machine applies an outcome
once, it is emitted once, however many webhooks, polls and processes saw the call.

A contact closed without a call (suppressed at dial time, canceled with its campaign,
skipped or suppressed by an operator) gets its final notification from
:func:`emit_closed`, written by whoever closes it, in the same transaction.

Only sessions from a factory passed to :func:`enable` emit: with no notification URL
configured, nothing is recorded (the outbox would only grow).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns.retry_policy import Decision
from campaign_engine.db.models import CallAttempt, Contact, Notification, utcnow
from campaign_engine.notifications.payload import (
    ATTEMPT,
    FINAL,
    ContactView,
    attempt_payload,
    closed_payload,
    final_payload,
)
from campaign_engine.states import CONTACT_FINAL, OutboxStatus

# Contacts read per statement when many are closed at once (a campaign canceled).
CLOSED_CHUNK = 1000

INFO_KEY = "campaign_engine.notifications"


def enable(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Sessions made by ``sessions`` from now on write notifications with each outcome."""
    sessions.configure(info={INFO_KEY: True})


def is_enabled(session: AsyncSession) -> bool:
    return bool(session.info.get(INFO_KEY))


async def contact_views(
    session: AsyncSession, contact_ids: Collection[int]
) -> dict[int, ContactView]:
    """The contacts as the database holds them now (columns, never a stale identity-map copy)."""
    rows = await session.execute(
        select(
            Contact.id,
            Contact.campaign_id,
            Contact.phone_e164,
            Contact.variables,
            Contact.state,
            Contact.attempts_count,
            Contact.last_outcome,
            Contact.next_attempt_at,
            Contact.last_error,
        ).where(Contact.id.in_(contact_ids))
    )
    return {
        row.id: ContactView(
            contact_id=row.id,
            campaign_id=row.campaign_id,
            phone=row.phone_e164,
            variables=dict(row.variables or {}),
            state=row.state,
            attempts_count=row.attempts_count,
            last_outcome=row.last_outcome,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
        )
        for row in rows
    }


def _row(
    contact: ContactView,
    attempt: CallAttempt | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "campaign_id": contact.campaign_id,
        "contact_id": contact.contact_id,
        "attempt_id": attempt.id if attempt else None,
        "kind": kind,
        "payload": payload,
        "status": OutboxStatus.PENDING.value,
        "tries": 0,
        "next_try_at": now,
        "created_at": now,
    }


async def emit_outcomes(
    session: AsyncSession, concluded: Sequence[tuple[CallAttempt, Decision]]
) -> int:
    """Queue each attempt's notification, and its contact's final one when the attempt
    settled it (one read of the contacts, one INSERT); how many rows were written."""
    if not is_enabled(session) or not concluded:
        return 0
    contacts = await contact_views(session, {attempt.contact_id for attempt, _ in concluded})
    now = utcnow()
    rows = []
    for attempt, decision in concluded:
        contact = contacts.get(attempt.contact_id)
        if contact is None:
            continue
        # Final only when the decision was final *and* it was applied to the contact.
        final = decision.final_state is not None and contact.state == decision.final_state.value
        payload = attempt_payload(attempt, contact, final=final)
        rows.append(_row(contact, attempt, ATTEMPT, payload, now))
        if final:
            rows.append(_row(contact, attempt, FINAL, final_payload(attempt, contact), now))
    if rows:
        await session.execute(insert(Notification), rows)
    return len(rows)


async def emit_closed(session: AsyncSession, contact_ids: Sequence[int]) -> int:
    """Queue the final notification of each contact just closed without a call (those not
    in a final state are left out); how many rows were written."""
    if not is_enabled(session) or not contact_ids:
        return 0
    written = 0
    final_states = [state.value for state in CONTACT_FINAL]
    for start in range(0, len(contact_ids), CLOSED_CHUNK):
        chunk = contact_ids[start : start + CLOSED_CHUNK]
        contacts = await contact_views(session, chunk)
        closed = [c for c in contacts.values() if c.state in final_states]
        if not closed:
            continue
        last: dict[int, CallAttempt] = {}
        attempts = await session.scalars(
            select(CallAttempt)
            .where(CallAttempt.contact_id.in_([contact.contact_id for contact in closed]))
            .order_by(CallAttempt.contact_id, CallAttempt.attempt_number, CallAttempt.id)
        )
        for one in attempts:
            last[one.contact_id] = one
        now = utcnow()
        rows = []
        for contact in closed:
            latest = last.get(contact.contact_id)
            rows.append(_row(contact, latest, FINAL, closed_payload(latest, contact), now))
        await session.execute(insert(Notification), rows)
        written += len(rows)
    return written
