"""Everything ``campaign show`` prints: progress, schedule, retry policy, limits, history.

The history is the ``campaign_events`` rows — every state change with who or what caused
it (an operator, the scheduler, the circuit breaker) and why — so "why did my campaign
stop?" is answered in one place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.service import campaign_status, get_campaign
from campaign_engine.db.models import CampaignEvent


async def campaign_overview(session: AsyncSession, campaign_id: str) -> dict[str, Any]:
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
    data.update(
        {
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
