"""The webhook inbox: store first (unique per session_id), answer, process later.

Storing before answering means an accepted delivery is never lost, and the unique key
makes Vocobase's duplicate deliveries and replays land on the row already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from campaign_engine.db.models import WebhookEvent, utcnow
from campaign_engine.states import InboxStatus

Executor = AsyncSession | AsyncConnection


def _dialect(executor: Executor) -> str:
    if isinstance(executor, AsyncConnection):
        return executor.dialect.name
    return executor.get_bind().dialect.name


def _upsert(insert_for: Any) -> Any:
    """Insert, or count the delivery's duplicates on the row with the same session_id.

    Built once per dialect (values come as parameters). A fresh row returns exactly the
    ``duplicates`` it was inserted with; an existing one returns more, which is how the
    caller tells the two apart on any backend.
    """
    statement = insert_for(WebhookEvent)
    return statement.on_conflict_do_update(
        index_elements=["session_id"],
        set_={"duplicates": WebhookEvent.duplicates + statement.excluded.duplicates + 1},
    ).returning(WebhookEvent.id, WebhookEvent.session_id, WebhookEvent.duplicates)


_UPSERTS = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


@dataclass(frozen=True)
class Stored:
    event_id: int | None
    duplicate: bool


def event_values(
    *,
    session_id: str,
    call_id: str | None,
    event_type: str,
    raw_body: bytes,
    headers: dict[str, Any],
    received_at: datetime,
    duplicates: int = 0,
) -> dict[str, Any]:
    """One inbox row as statement parameters."""
    return {
        "session_id": session_id,
        "call_id": call_id,
        "event_type": event_type,
        "status": InboxStatus.RECEIVED.value,
        "raw_body": raw_body,
        "headers": headers,
        "duplicates": duplicates,
        "received_at": received_at,
    }


async def store_many(executor: Executor, rows: list[dict[str, Any]]) -> dict[str, int | None]:
    """Upsert rows with distinct session_ids in one statement; for each session_id the new
    event's id, or None when a row was already there (its duplicates were counted)."""
    if not rows:
        return {}
    result = await executor.execute(_UPSERTS[_dialect(executor)], rows)
    sent = {row["session_id"]: row["duplicates"] for row in rows}
    return {
        found.session_id: found.id if found.duplicates == sent[found.session_id] else None
        for found in result.all()
    }


async def store_invalid(
    executor: Executor, *, raw_body: bytes, headers: dict[str, Any], reason: str
) -> int:
    """Keep a signed delivery we could not read, with the reason, for inspection."""
    now = utcnow()
    statement = (
        insert(WebhookEvent)
        .values(
            session_id=None,
            status=InboxStatus.INVALID.value,
            raw_body=raw_body,
            headers=headers,
            error=reason,
            duplicates=0,
            received_at=now,
            processed_at=now,
        )
        .returning(WebhookEvent.id)
    )
    return int((await executor.execute(statement)).scalar_one())
