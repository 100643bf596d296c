"""Recurring campaigns between their pulls: ``running`` while they have contacts to call,
``ongoing`` while every contact so far is final and the next pull is awaited.

A campaign with a saved source (``contacts import --from-sql … --save-source``) is
recurring by itself. Rather than completing when its contacts are all final (a one-off
campaign does), it goes ``ongoing`` with a reason that says when its next pull is due, in
its home zone's local time. The scheduler's tick moves it back to ``running`` as soon as it
has contacts to call again — whatever added them: a daily pull, an import, an operator
calling a contact again — so dialing only ever looks at running campaigns. It completes at
its schedule's end (:mod:`~campaign_engine.control.calendar`), or once an operator ends it
(``campaign end``: its saved sources are forgotten, so it is one-off from then on). The
moves themselves are :mod:`~campaign_engine.control.campaign_moves`; this module says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.daily import next_pull_at
from campaign_engine.campaigns.lifecycle import SCHEDULER, transition
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.windows import zone
from campaign_engine.contacts.sql_source import display_url
from campaign_engine.db.models import Campaign, ContactSource
from campaign_engine.states import CampaignState

WAITING = "every contact so far is final"


def ongoing_text(due: datetime | None, zone_name: str) -> str:
    """An ongoing campaign's reason: when its next pull is due, on its home zone's clock."""
    if due is None:
        return f"{WAITING}; no pull is due within a year under its schedule"
    local = due.astimezone(zone(zone_name))
    return f"{WAITING}; next pull due {local:%Y-%m-%d %H:%M} {zone_name}"


async def ongoing_reason(session: AsyncSession, campaign_id: str, now: datetime) -> str:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    schedule = from_json(campaign.schedule)
    due = await next_pull_at(session, campaign_id, schedule, now)
    return ongoing_text(due, schedule.home_zone if schedule else "UTC")


async def wait_for_pull(
    session: AsyncSession, campaign_id: str, now: datetime, *, actor: str = SCHEDULER
) -> Campaign:
    """Move a recurring campaign with nothing left to call to ``ongoing``."""
    reason = await ongoing_reason(session, campaign_id, now)
    return await transition(session, campaign_id, CampaignState.ONGOING, actor=actor, reason=reason)


async def forget_sources(session: AsyncSession, campaign_id: str) -> list[dict[str, Any]]:
    """Remove every saved source of the campaign in the caller's transaction: no more pulls,
    and the campaign is one-off from then on. What was removed (URL masked), for the audit
    log."""
    found = (
        await session.scalars(
            select(ContactSource)
            .where(ContactSource.campaign_id == campaign_id)
            .order_by(ContactSource.id)
            .with_for_update()
        )
    ).all()
    removed = [
        {"id": source.id, "source_url": display_url(source.source_url), "query": source.query}
        for source in found
    ]
    if found:
        await session.execute(
            delete(ContactSource).where(ContactSource.id.in_([source.id for source in found]))
        )
    return removed
