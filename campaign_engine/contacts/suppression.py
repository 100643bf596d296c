"""The do-not-call list: exact numbers and number prefixes, global or per campaign.

Checked when a list is imported and again right before every dial, so a number suppressed
after its upload is still never called.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Suppression

NUMBER = "number"
PREFIX = "prefix"


async def suppression_for(
    session: AsyncSession, phone: str, campaign_id: str | None
) -> Suppression | None:
    """The entry that forbids calling ``phone`` in ``campaign_id`` (global ones count too)."""
    scope: ColumnElement[bool] = Suppression.campaign_id.is_(None)
    if campaign_id is not None:
        scope = or_(scope, Suppression.campaign_id == campaign_id)
    matches = or_(
        (Suppression.kind == NUMBER) & (Suppression.pattern == phone),
        (Suppression.kind == PREFIX) & literal(phone).startswith(Suppression.pattern),
    )
    return await session.scalar(
        select(Suppression).where(scope, matches).order_by(Suppression.id).limit(1)
    )
