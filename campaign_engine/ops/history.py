"""One contact's whole story: every attempt, and the raw webhooks each one received.

This is what an operator opens when a callee says "you called me three times": the ids to
quote to Vocobase, and the bodies exactly as they arrived.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, Contact, WebhookEvent
from campaign_engine.states import AttemptState


class WebhookView(BaseModel):
    id: int
    event_type: str | None
    status: str
    received_at: datetime
    processed_at: datetime | None
    error: str | None
    duplicates: int
    body: str


class AttemptView(BaseModel):
    id: int
    attempt_number: int
    state: str
    provider: str
    call_id: str | None
    session_id: str | None
    call_status: str | None
    disposition: str | None
    answered_by: str | None
    outcome: str | None
    # webhook, poll (decided without it), poll+webhook (a late webhook enriched it), engine
    outcome_source: str | None = None
    error: str | None
    duration_seconds: float | None
    claimed_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    deadline_at: datetime
    webhooks: list[WebhookView]


class ContactHistory(BaseModel):
    contact_id: int
    campaign_id: str
    phone: str
    state: str
    attempts_count: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    variables: dict[str, Any]
    attempts: list[AttemptView]
    # What the contact is waiting for while an attempt is open (None: nothing open).
    waiting_for: str | None = None


def waiting_for(attempts: list[AttemptView]) -> str | None:
    """In words, what an open attempt is waiting for: an operator must see a contact that
    waits rather than being dialed on a guess."""
    open_ones = [a for a in attempts if a.state in _WAITING_WORDS]
    if not open_ones:
        return None
    latest = open_ones[-1]
    return _WAITING_WORDS[latest.state]


_WAITING_WORDS = {
    AttemptState.DIALING.value: "its start request is in flight",
    AttemptState.STARTED.value: "in a call",
    AttemptState.UNKNOWN.value: (
        "its start's fate is unknown: the reconciler is looking for the call in Vocobase "
        "(it is never dialed again on a guess)"
    ),
    AttemptState.PROCESSING.value: (
        "the call is over; its outcome waits for Vocobase's post-call processing (the webhook)"
    ),
}


async def contact_history(session: AsyncSession, contact_id: int) -> ContactHistory:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise LookupError(f"contact {contact_id} not found")
    attempts = (
        await session.scalars(
            select(CallAttempt)
            .where(CallAttempt.contact_id == contact_id)
            .order_by(CallAttempt.claimed_at, CallAttempt.id)
        )
    ).all()
    ids = [attempt.id for attempt in attempts]
    events: dict[int, list[WebhookView]] = {}
    if ids:
        rows = await session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.attempt_id.in_(ids))
            .order_by(WebhookEvent.received_at, WebhookEvent.id)
        )
        for event in rows.all():
            assert event.attempt_id is not None
            events.setdefault(event.attempt_id, []).append(
                WebhookView(
                    id=event.id,
                    event_type=event.event_type,
                    status=event.status,
                    received_at=event.received_at,
                    processed_at=event.processed_at,
                    error=event.error,
                    duplicates=event.duplicates,
                    body=event.raw_body.decode("utf-8", errors="replace"),
                )
            )
    views = [
        AttemptView(
            id=a.id,
            attempt_number=a.attempt_number,
            state=a.state,
            provider=a.provider,
            call_id=a.call_id,
            session_id=a.session_id,
            call_status=a.call_status,
            disposition=a.disposition,
            answered_by=a.answered_by,
            outcome=a.outcome,
            outcome_source=a.outcome_source,
            error=a.error,
            duration_seconds=a.duration_seconds,
            claimed_at=a.claimed_at,
            started_at=a.started_at,
            ended_at=a.ended_at,
            deadline_at=a.deadline_at,
            webhooks=events.get(a.id, []),
        )
        for a in attempts
    ]
    return ContactHistory(
        contact_id=contact.id,
        campaign_id=contact.campaign_id,
        phone=contact.phone_e164,
        state=contact.state,
        attempts_count=contact.attempts_count,
        next_attempt_at=contact.next_attempt_at,
        last_outcome=contact.last_outcome,
        last_error=contact.last_error,
        variables=contact.variables,
        attempts=views,
        waiting_for=waiting_for(views),
    )
