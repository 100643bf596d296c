"""The outbox table's operations: claim due rows, record each try, list, re-drive.

A row is claimed by one conditional UPDATE that moves its ``next_try_at`` past a lease and
counts the try; on PostgreSQL the candidate rows are picked ``FOR UPDATE SKIP LOCKED`` so
several scheduler processes take disjoint batches without waiting for each other (SQLite
runs one writer at a time, which gives the same). The outcome of a try is written only if
the row is still the one we claimed (same ``tries``, still pending): a sender whose lease
ran out cannot overwrite a newer try. Delivery is therefore at least once, never lost.

Statuses (:class:`~campaign_engine.states.OutboxStatus`): ``pending`` → ``delivered`` |
``dead`` (tries used up); ``dead`` → ``pending`` again only by an operator's re-drive, with
a fresh budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Notification
from campaign_engine.notifications.backoff import RetrySchedule
from campaign_engine.states import OutboxStatus

ERROR_LIMIT = 500


@dataclass(frozen=True)
class Claimed:
    """One row taken for a try: ``tries`` counts this try and proves the claim."""

    id: int
    contact_id: int
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    tries: int


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Take up to ``limit`` due rows (oldest first) for ``lease_seconds``."""
    due = (
        select(Notification.id)
        .where(Notification.status == OutboxStatus.PENDING.value, Notification.next_try_at <= now)
        .order_by(Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Lock the candidates first, as a statement of its own: inside ``IN (...)`` the
        # planner may run a LIMIT ... SKIP LOCKED subquery more than once and take more.
        locked = await session.scalars(due.with_for_update(skip_locked=True))
        candidates: Any = list(locked.all())
        if not candidates:
            return []
    else:
        candidates = due.scalar_subquery()
    result = await session.execute(
        update(Notification)
        .where(
            Notification.id.in_(candidates),
            Notification.status == OutboxStatus.PENDING.value,
            Notification.next_try_at <= now,
        )
        .values(tries=Notification.tries + 1, next_try_at=now + timedelta(seconds=lease_seconds))
        .returning(
            Notification.id,
            Notification.contact_id,
            Notification.kind,
            Notification.payload,
            Notification.created_at,
            Notification.tries,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = [
        Claimed(row.id, row.contact_id, row.kind, row.payload, row.created_at, row.tries)
        for row in result
    ]
    return sorted(claimed, key=lambda item: item.id)


async def mark_delivered(session: AsyncSession, claimed: Claimed, *, now: datetime) -> bool:
    result = await session.execute(
        update(Notification)
        .where(
            Notification.id == claimed.id,
            Notification.status == OutboxStatus.PENDING.value,
            Notification.tries == claimed.tries,
        )
        .values(status=OutboxStatus.DELIVERED.value, delivered_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_failed(
    session: AsyncSession,
    claimed: Claimed,
    *,
    error: str,
    now: datetime,
    schedule: RetrySchedule,
) -> str | None:
    """Record a failed try: back off, or go dead after the last one; the new status, or
    None when the row is no longer ours."""
    if schedule.gives_up_after(claimed.tries):
        status, next_try_at = OutboxStatus.DEAD.value, now
    else:
        status = OutboxStatus.PENDING.value
        next_try_at = now + timedelta(seconds=schedule.delay_after(claimed.tries))
    result = await session.execute(
        update(Notification)
        .where(
            Notification.id == claimed.id,
            Notification.status == OutboxStatus.PENDING.value,
            Notification.tries == claimed.tries,
        )
        .values(status=status, next_try_at=next_try_at, last_error=error[:ERROR_LIMIT])
        .execution_options(synchronize_session=False)
    )
    return status if getattr(result, "rowcount", 0) else None


async def list_notifications(
    session: AsyncSession,
    *,
    status: str | None = None,
    campaign_id: str | None = None,
    limit: int = 100,
) -> list[Notification]:
    """The newest rows first, optionally only one status or one campaign."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Notification.status == status)
    if campaign_id is not None:
        query = query.where(Notification.campaign_id == campaign_id)
    return list((await session.scalars(query)).all())


async def count_by_status(session: AsyncSession, campaign_id: str | None = None) -> dict[str, int]:
    query = select(Notification.status, func.count()).group_by(Notification.status)
    if campaign_id is not None:
        query = query.where(Notification.campaign_id == campaign_id)
    counts = {status.value: 0 for status in OutboxStatus}
    for status, count in (await session.execute(query)).all():
        counts[status] = int(count)
    return counts


async def redrive(
    session: AsyncSession,
    *,
    ids: list[int] | None = None,
    campaign_id: str | None = None,
    now: datetime,
) -> int:
    """Put dead rows back to pending with a fresh try budget, due now; how many.

    ``ids`` picks rows (only dead ones move: a pending or delivered row is left alone);
    without ``ids`` every dead row (of ``campaign_id``, when given) is re-driven.
    """
    query = update(Notification).where(Notification.status == OutboxStatus.DEAD.value)
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    if campaign_id is not None:
        query = query.where(Notification.campaign_id == campaign_id)
    result = await session.execute(
        query.values(status=OutboxStatus.PENDING.value, tries=0, next_try_at=now).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0))
