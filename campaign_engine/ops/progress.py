"""Campaign progress at a glance: how far, how fast, when done, and why it stopped.

Rates count attempts by when they were claimed (``not_sent`` ones never became calls), so
the ETA reflects what the limits actually let through rather than a configured figure; a
scheduled campaign's pace is spent only inside each zone's calling windows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.estimate import paced_finish
from campaign_engine.campaigns.preflight import callable_groups
from campaign_engine.db.models import CallAttempt, Campaign, CampaignEvent, Contact, utcnow
from campaign_engine.states import (
    ATTEMPT_OPEN,
    CAMPAIGN_TERMINAL,
    CONTACT_FINAL,
    AttemptState,
)


class LastEvent(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None


class CampaignProgress(BaseModel):
    id: str
    name: str
    state: str
    state_reason: str | None
    provider: str
    total: int
    final: int
    in_flight: int
    calls_last_minute: int
    calls_last_hour: int
    eta_seconds: float | None
    last_event: LastEvent | None
    # Zones whose window has not opened yet, when they move the ETA (else null).
    eta_note: str | None = None


def eta_seconds(remaining: int, last_minute: int, last_hour: int, running: bool) -> float | None:
    """Seconds left at the recent pace: the last minute's when it had calls, else the hour's."""
    if remaining == 0:
        return 0.0
    per_minute = float(last_minute) if last_minute else last_hour / 60
    if not running or per_minute <= 0:
        return None
    return round(remaining / per_minute * 60, 1)


async def windowed_eta(
    session: AsyncSession, campaign_id: str, per_second: float, now: datetime
) -> tuple[float | None, str | None]:
    """The ETA at the recent pace spent only inside each zone's calling windows, and the
    zones still waiting for theirs (a scheduled campaign's contacts are not all callable
    now: 500 US contacts parked until their morning are 9 hours away, not 17 minutes)."""
    groups = await callable_groups(session, campaign_id, now)
    last, waits = paced_finish(groups, per_second, now)
    if last is None:
        return None, "not within the schedule's dates"
    return round((last - now).total_seconds(), 1), "; ".join(waits) or None


async def _counts(session: AsyncSession, ids: list[str], since: datetime) -> dict[str, int]:
    rows = await session.execute(
        select(CallAttempt.campaign_id, func.count())
        .where(
            CallAttempt.campaign_id.in_(ids),
            CallAttempt.claimed_at >= since,
            CallAttempt.state != AttemptState.NOT_SENT.value,
        )
        .group_by(CallAttempt.campaign_id)
    )
    return {campaign_id: int(count) for campaign_id, count in rows.all()}


async def overview(
    session: AsyncSession, *, include_finished: bool = False, now: datetime | None = None
) -> list[CampaignProgress]:
    """Every campaign not finished (or all), newest first, in a handful of grouped queries."""
    now = now or utcnow()
    query = select(Campaign).order_by(Campaign.created_at.desc())
    if not include_finished:
        query = query.where(Campaign.state.not_in([s.value for s in CAMPAIGN_TERMINAL]))
    campaigns = (await session.scalars(query)).all()
    ids = [campaign.id for campaign in campaigns]
    if not ids:
        return []
    totals: dict[str, int] = {}
    finals: dict[str, int] = {}
    final_states = {state.value for state in CONTACT_FINAL}
    for campaign_id, state, count in (
        await session.execute(
            select(Contact.campaign_id, Contact.state, func.count())
            .where(Contact.campaign_id.in_(ids))
            .group_by(Contact.campaign_id, Contact.state)
        )
    ).all():
        totals[campaign_id] = totals.get(campaign_id, 0) + int(count)
        if state in final_states:
            finals[campaign_id] = finals.get(campaign_id, 0) + int(count)
    in_flight = dict(
        (
            await session.execute(
                select(CallAttempt.campaign_id, func.count())
                .where(
                    CallAttempt.campaign_id.in_(ids),
                    CallAttempt.state.in_([s.value for s in ATTEMPT_OPEN]),
                )
                .group_by(CallAttempt.campaign_id)
            )
        ).all()
    )
    minute = await _counts(session, ids, now - timedelta(minutes=1))
    hour = await _counts(session, ids, now - timedelta(hours=1))
    events = await _last_events(session, ids)
    result = []
    for campaign in campaigns:
        total, final = totals.get(campaign.id, 0), finals.get(campaign.id, 0)
        last_minute, last_hour = minute.get(campaign.id, 0), hour.get(campaign.id, 0)
        eta = eta_seconds(total - final, last_minute, last_hour, campaign.state == "running")
        note = None
        if eta and campaign.schedule is not None:
            eta, note = await windowed_eta(session, campaign.id, (total - final) / eta, now)
        result.append(
            CampaignProgress(
                id=campaign.id,
                name=campaign.name,
                state=campaign.state,
                state_reason=campaign.state_reason,
                provider=campaign.provider,
                total=total,
                final=final,
                in_flight=int(in_flight.get(campaign.id, 0)),
                calls_last_minute=last_minute,
                calls_last_hour=last_hour,
                eta_seconds=eta,
                last_event=events.get(campaign.id),
                eta_note=note,
            )
        )
    return result


async def _last_events(session: AsyncSession, ids: list[str]) -> dict[str, LastEvent]:
    latest = (
        select(func.max(CampaignEvent.id))
        .where(CampaignEvent.campaign_id.in_(ids))
        .group_by(CampaignEvent.campaign_id)
    )
    rows = (await session.scalars(select(CampaignEvent).where(CampaignEvent.id.in_(latest)))).all()
    return {
        row.campaign_id: LastEvent(
            at=row.created_at,
            from_state=row.from_state,
            to_state=row.to_state,
            actor=row.actor,
            reason=row.reason,
        )
        for row in rows
    }
