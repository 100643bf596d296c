"""The webhook inbox: store first (unique per session_id), answer, process later.

Storing before answering means an accepted delivery is never lost, and the unique key
makes Vocobase's duplicate deliveries and replays land on the row already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import WebhookEvent, utcnow

RECEIVED = "received"
APPLIED = "applied"
UNMATCHED = "unmatched"
IGNORED = "ignored"
INVALID = "invalid"


@dataclass(frozen=True)
class Stored:
    event_id: int | None
    duplicate: bool


async def store_event(
    session: AsyncSession,
    *,
    session_id: str,
    call_id: str | None,
    event_type: str,
    raw_body: bytes,
    headers: dict[str, Any],
) -> Stored:
    """Insert the event unless one with the same session_id is there already."""
    values = {
        "session_id": session_id,
        "call_id": call_id,
        "event_type": event_type,
        "status": RECEIVED,
        "raw_body": raw_body,
        "headers": headers,
        "duplicates": 0,
        "received_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(WebhookEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["session_id"])
        .returning(WebhookEvent.id)
    )
    event_id = (await session.execute(statement)).scalar_one_or_none()
    if event_id is not None:
        return Stored(event_id, duplicate=False)
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.session_id == session_id)
        .values(duplicates=WebhookEvent.duplicates + 1)
    )
    return Stored(None, duplicate=True)


async def store_invalid(
    session: AsyncSession, *, raw_body: bytes, headers: dict[str, Any], reason: str
) -> int:
    """Keep a signed delivery we could not read, with the reason, for inspection."""
    event = WebhookEvent(
        session_id=None,
        status=INVALID,
        raw_body=raw_body,
        headers=headers,
        error=reason,
        duplicates=0,
        received_at=utcnow(),
        processed_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    return event.id
