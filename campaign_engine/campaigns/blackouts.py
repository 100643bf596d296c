"""Blackout dates: days nobody is called (holidays), for one campaign or for all of them.

A date is read on the callee's clock (or the campaign's pinned zone). Adding one needs no
rescheduling: contacts due on that day are handed back by the pre-dial gate to the next
allowed moment, and retries computed afterwards skip it. Adding and removing one are
written to the audit log with who did it (``actor``), in the same transaction.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.service import CampaignError, get_campaign
from campaign_engine.db.models import BlackoutDate
from campaign_engine.journal import audit


def _scope(campaign_id: str | None) -> ColumnElement[bool]:
    if campaign_id is None:
        return BlackoutDate.campaign_id.is_(None)
    return BlackoutDate.campaign_id == campaign_id


def _target(day: date, campaign_id: str | None) -> str:
    return f"{day.isoformat()}@{campaign_id or '*'}"


async def add_blackout(
    session: AsyncSession,
    day: date,
    *,
    campaign_id: str | None = None,
    reason: str | None = None,
    actor: str = audit.DEFAULT_ACTOR,
) -> BlackoutDate:
    if campaign_id is not None:
        await get_campaign(session, campaign_id)
    existing = await session.scalar(
        select(BlackoutDate).where(BlackoutDate.day == day, _scope(campaign_id))
    )
    if existing is not None:
        where = f"campaign {campaign_id}" if campaign_id else "every campaign"
        raise CampaignError(f"{day.isoformat()} is already a blackout date for {where}")
    entry = BlackoutDate(day=day, campaign_id=campaign_id, reason=reason)
    session.add(entry)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="blackout.add",
        target_type="blackout",
        target_id=_target(day, campaign_id),
        details={"day": day.isoformat(), "campaign_id": campaign_id, "reason": reason},
    )
    return entry


async def list_blackouts(
    session: AsyncSession, *, campaign_id: str | None = None
) -> list[BlackoutDate]:
    """The global dates, and the campaign's own when one is named; by date."""
    query = select(BlackoutDate).order_by(BlackoutDate.day, BlackoutDate.id)
    if campaign_id is not None:
        query = query.where(
            (BlackoutDate.campaign_id.is_(None)) | (BlackoutDate.campaign_id == campaign_id)
        )
    return list((await session.scalars(query)).all())


async def remove_blackout(
    session: AsyncSession,
    day: date,
    *,
    campaign_id: str | None = None,
    actor: str = audit.DEFAULT_ACTOR,
) -> None:
    result = await session.execute(
        delete(BlackoutDate).where(BlackoutDate.day == day, _scope(campaign_id))
    )
    if not getattr(result, "rowcount", 0):
        where = f"campaign {campaign_id}" if campaign_id else "every campaign"
        raise CampaignError(f"{day.isoformat()} is not a blackout date for {where}")
    await audit.record(
        session,
        actor=actor,
        action="blackout.remove",
        target_type="blackout",
        target_id=_target(day, campaign_id),
        details={"day": day.isoformat(), "campaign_id": campaign_id},
    )
