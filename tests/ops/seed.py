"""Rows for the console's tests, written straight into a real database.

The views read what the dialer writes; building those rows by hand lets each test pin one
situation (a 429 hand-back, an attempt past its deadline) without driving the dialer there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns import service
from campaign_engine.db.models import CallAttempt, Contact, WebhookEvent, utcnow

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"


async def campaign(session: AsyncSession, *, name: str = "Reminders", start: bool = True) -> str:
    created = await service.create_campaign(
        session, name=name, agent_id=AGENT_ID, provider="twilio", max_concurrent=3
    )
    await contact(session, created.id, "+919800000000", state="pending")
    if start:
        await service.start_campaign(session, created.id, None)
    return created.id


async def contact(
    session: AsyncSession, campaign_id: str, phone: str, *, state: str, **fields: Any
) -> Contact:
    row = Contact(campaign_id=campaign_id, phone_e164=phone, state=state, **fields)
    session.add(row)
    await session.flush()
    return row


async def attempt(
    session: AsyncSession,
    target: Contact,
    *,
    state: str,
    number: int = 1,
    claimed_at: datetime | None = None,
    deadline_in: timedelta = timedelta(minutes=10),
    **fields: Any,
) -> CallAttempt:
    claimed = claimed_at or utcnow()
    fields.setdefault("to_number", target.phone_e164)
    row = CallAttempt(
        contact_id=target.id,
        campaign_id=target.campaign_id,
        attempt_number=number,
        state=state,
        provider="twilio",
        claimed_at=claimed,
        deadline_at=claimed + deadline_in,
        **fields,
    )
    session.add(row)
    await session.flush()
    return row


async def webhook(session: AsyncSession, target: CallAttempt, body: bytes) -> WebhookEvent:
    row = WebhookEvent(
        session_id=target.session_id,
        call_id=target.call_id,
        event_type="session.completed",
        status="applied",
        raw_body=body,
        attempt_id=target.id,
        processed_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row
