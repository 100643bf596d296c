"""The campaign's own dates, applied by the scheduler: begin at the start, end at the end.

- A campaign started before its schedule's ``start`` waits as ``scheduled`` and becomes
  ``running`` when the start comes (its contacts are already placed at their first
  allowed moments, so nothing is dialed early either way).
- A ``running`` or ``ongoing`` (recurring, waiting for its next pull) campaign past its
  schedule's ``end`` completes with the reason "end date reached". Its contacts not yet
  called are ``canceled`` with that reason — they stay visible as *not called*, unlike
  ``exhausted`` (called, never reached). Calls ringing at that moment finish and are
  recorded; they are not retried.
- A paused campaign is left alone (only a running or ongoing campaign completes); once resumed past
  its end it completes at the next tick.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.lifecycle import SCHEDULER, transition
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.control.campaign_moves import close_open_contacts
from campaign_engine.db.models import Campaign
from campaign_engine.states import CampaignState

START_REACHED = "start time reached"
END_REACHED = "end date reached"
_DATED = (CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.ONGOING)
_ENDING = (CampaignState.RUNNING.value, CampaignState.ONGOING.value)


async def advance_calendar(session: AsyncSession, now: datetime) -> list[tuple[str, str]]:
    """Apply start and end dates; (campaign id, new state) for every campaign moved."""
    rows = (
        await session.execute(
            select(Campaign.id, Campaign.state, Campaign.schedule).where(
                Campaign.state.in_([state.value for state in _DATED])
            )
        )
    ).all()
    moved: list[tuple[str, str]] = []
    for campaign_id, state, stored in rows:
        schedule = from_json(stored)
        if schedule is None:
            continue
        starts, ends = schedule.starts_at(), schedule.ends_at()
        if state == CampaignState.SCHEDULED.value and (starts is None or starts <= now):
            await transition(
                session, campaign_id, CampaignState.RUNNING, actor=SCHEDULER, reason=START_REACHED
            )
            moved.append((campaign_id, CampaignState.RUNNING.value))
            state = CampaignState.RUNNING.value
        if state in _ENDING and ends is not None and ends <= now:
            await transition(
                session, campaign_id, CampaignState.COMPLETED, actor=SCHEDULER, reason=END_REACHED
            )
            await close_open_contacts(session, campaign_id, END_REACHED)
            moved.append((campaign_id, CampaignState.COMPLETED.value))
    return moved
