"""What a dial job knows about each of its contacts, read in one query before anything is
taken: the contact, its campaign, and the calendar that says when it may be called."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.campaigns.window_check import ContactCalendar, blackout_days
from campaign_engine.db.models import Campaign, Contact
from campaign_engine.limits.limiter import lease_name
from campaign_engine.states import ContactState


@dataclass(frozen=True)
class DialTarget:
    """One contact's next attempt, as read once before anything is taken."""

    contact_id: int
    campaign_id: str
    phone: str
    variables: dict[str, Any]
    contact_state: str
    attempts_count: int
    campaign_state: str
    agent_id: str
    provider: str
    connection_id: str | None
    agent_variables: list[str] | None
    max_call_seconds: int
    max_concurrent: int | None
    calls_per_minute: int | None
    calendar: ContactCalendar

    @property
    def next_attempt_number(self) -> int:
        return self.attempts_count + 1

    @property
    def lease(self) -> str:
        """The concurrency lease of this contact's next attempt (one per attempt number)."""
        return lease_name(self.contact_id, self.next_attempt_number)


def waiting_state(attempts_count: int) -> str:
    """The state a contact waits in: ``pending`` before its first call, then ``retrying``."""
    return (ContactState.RETRYING if attempts_count else ContactState.PENDING).value


async def load_targets(session: AsyncSession, contact_ids: Sequence[int]) -> list[DialTarget]:
    """The contacts that exist among ``contact_ids``, in that order, with their campaigns.

    The contacts' columns in one query, each campaign once (with its blackout dates when it
    has a schedule): a batch of one campaign's contacts costs three reads, not one per row.
    """
    rows = (
        await session.execute(
            select(
                Contact.id,
                Contact.campaign_id,
                Contact.phone_e164,
                Contact.variables,
                Contact.state,
                Contact.attempts_count,
                Contact.timezones,
            ).where(Contact.id.in_(list(contact_ids)))
        )
    ).all()
    by_id = {row.id: row for row in rows}
    campaigns = {
        campaign.id: campaign
        for campaign in await session.scalars(
            select(Campaign).where(Campaign.id.in_({row.campaign_id for row in rows}))
        )
    }
    calendars: dict[str, tuple[Schedule | None, frozenset[date]]] = {}
    for campaign in campaigns.values():
        schedule = from_json(campaign.schedule)
        blackouts = await blackout_days(session, campaign.id) if schedule else frozenset()
        calendars[campaign.id] = (schedule, blackouts)
    targets = []
    for contact_id in contact_ids:
        row = by_id.get(contact_id)
        if row is None:
            continue
        campaign = campaigns[row.campaign_id]
        schedule, blackouts = calendars[campaign.id]
        targets.append(
            DialTarget(
                contact_id=row.id,
                campaign_id=campaign.id,
                phone=row.phone_e164,
                variables=dict(row.variables or {}),
                contact_state=row.state,
                attempts_count=row.attempts_count,
                campaign_state=campaign.state,
                agent_id=campaign.agent_id,
                provider=campaign.provider,
                connection_id=campaign.connection_id,
                agent_variables=campaign.agent_variables,
                max_call_seconds=campaign.max_call_seconds,
                max_concurrent=campaign.max_concurrent,
                calls_per_minute=campaign.calls_per_minute,
                calendar=ContactCalendar(schedule, tuple(row.timezones or ()), blackouts),
            )
        )
    return targets
