"""Everything ``campaign show`` prints: progress, schedule, retry policy, limits, history.

The history is the ``campaign_events`` rows — every state change with who or what caused
it (an operator, the scheduler, the circuit breaker) and why — so "why did my campaign
stop?" is answered in one place.

Progress is also shown per local day of the campaign's home zone (contacts added, calls
placed, contacts that became final): a recurring campaign (one with saved sources, pulled
every calling day) is read day by day as well as in total. The estimated finish is
preflight's (:mod:`campaign_engine.campaigns.estimate`), with what binds it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from campaign_engine.campaigns.preflight import preflight
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.service import campaign_status, get_campaign
from campaign_engine.campaigns.windows import local_date
from campaign_engine.config import LimitSettings
from campaign_engine.db.models import CallAttempt, CampaignEvent, Contact, ContactSource, utcnow
from campaign_engine.states import CONTACT_FINAL, AttemptState


async def campaign_overview(
    session: AsyncSession,
    campaign_id: str,
    *,
    limits: LimitSettings | None = None,
    now: datetime | None = None,
    partner_concurrency: int | None = None,
    polling_share: float = 0.0,
) -> dict[str, Any]:
    """``limits`` given: the estimated finish too (else ``estimate`` is null)."""
    campaign = await get_campaign(session, campaign_id)
    data = await campaign_status(session, campaign_id)
    schedule = from_json(campaign.schedule)
    events = (
        await session.scalars(
            select(CampaignEvent)
            .where(CampaignEvent.campaign_id == campaign_id)
            .order_by(CampaignEvent.created_at, CampaignEvent.id)
        )
    ).all()
    home = schedule.home_zone if schedule is not None else "UTC"
    sources = await session.scalar(
        select(func.count()).where(ContactSource.campaign_id == campaign_id)
    )
    data.update(
        {
            "recurring": bool(sources),
            "daily": await daily_progress(session, campaign_id, home),
            "estimate": await _estimate(
                session, campaign_id, limits, now or utcnow(), partner_concurrency, polling_share
            )
            if limits is not None
            else None,
            "default_region": campaign.default_region,
            "limits": {
                "max_concurrent": campaign.max_concurrent,
                "calls_per_minute": campaign.calls_per_minute,
                "max_call_seconds": campaign.max_call_seconds,
            },
            # Null: no schedule, calls at any time.
            "schedule": schedule.to_json() if schedule is not None else None,
            # The stored policy, with every default filled in.
            "retry_policy": RetryPolicy.model_validate(campaign.retry_policy or {}).model_dump(
                mode="json"
            ),
            "events": [
                {
                    "at": event.created_at.isoformat(),
                    "from": event.from_state,
                    "to": event.to_state,
                    "actor": event.actor,
                    "reason": event.reason,
                }
                for event in events
            ],
        }
    )
    return data


async def daily_progress(session: AsyncSession, campaign_id: str, zone_name: str) -> dict[str, Any]:
    """Per local day of ``zone_name``: contacts added, calls placed (attempts that were or
    may have been sent), contacts that became final (their last change); and the totals."""
    mine = Contact.campaign_id == campaign_id
    added = await _by_day(session, zone_name, Contact.created_at, mine)
    final = await _by_day(
        session,
        zone_name,
        Contact.updated_at,
        mine,
        Contact.state.in_([state.value for state in CONTACT_FINAL]),
    )
    called = await _by_day(
        session,
        zone_name,
        CallAttempt.claimed_at,
        CallAttempt.campaign_id == campaign_id,
        CallAttempt.state != AttemptState.NOT_SENT.value,
    )
    days = sorted(set(added) | set(final) | set(called))
    return {
        "zone": zone_name,
        "days": [
            {
                "date": day.isoformat(),
                "added": added[day],
                "called": called[day],
                "final": final[day],
            }
            for day in days
        ],
        "total": {
            "added": sum(added.values()),
            "called": sum(called.values()),
            "final": sum(final.values()),
        },
    }


async def _by_day(
    session: AsyncSession,
    zone_name: str,
    column: InstrumentedAttribute[datetime],
    *where: ColumnElement[bool],
) -> Counter[date]:
    """How many rows' ``column`` falls on each local day of ``zone_name``."""
    moments = (await session.scalars(select(column).where(*where))).all()
    return Counter(local_date(zone_name, at) for at in moments)


async def _estimate(
    session: AsyncSession,
    campaign_id: str,
    limits: LimitSettings,
    now: datetime,
    partner_concurrency: int | None,
    polling_share: float,
) -> dict[str, Any]:
    report = await preflight(
        session,
        campaign_id,
        limits,
        now,
        partner_concurrency=partner_concurrency,
        polling_share=polling_share,
    )
    finish = report.estimated_finish
    return {
        "finish": finish.isoformat() if finish else None,
        "binding": report.binding,
        "description": report.binding_description,
        "calls_per_hour": report.calls_per_hour,
    }
