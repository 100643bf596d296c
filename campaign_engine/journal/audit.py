"""The audit log: every operator action, from the CLI or the web, with who did it.

Written in the same transaction as the action itself, so an action is never done without
its entry nor recorded without being done.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import AuditEntry, utcnow

DEFAULT_ACTOR = "operator"


def default_actor() -> str:
    """The login running the command ($USER), else a generic name."""
    try:
        return getpass.getuser()[:64] or DEFAULT_ACTOR
    except (KeyError, OSError):
        return DEFAULT_ACTOR


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | int,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor=actor[:64],
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            details=details or {},
            created_at=utcnow(),
        )
    )
    await session.flush()


async def entries(
    session: AsyncSession,
    *,
    limit: int = 50,
    target_type: str | None = None,
    target_id: str | None = None,
) -> list[AuditView]:
    """The latest entries first, optionally for one target."""
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    rows = (await session.scalars(query.limit(limit))).all()
    return [
        AuditView(
            id=row.id,
            at=row.created_at,
            actor=row.actor,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            details=row.details,
        )
        for row in rows
    ]
